#!/bin/sh
# A small, ordinary service: a web server answering requests (static page and a CGI script), a worker shell script
# writing a log, cron running a periodic job and a log rotation. Used by the false-positive run.
mkdir -p /var/log/app /tmp/work
httpd -f -p 8080 -h /srv/www &
crond -f -c /etc/crontabs &
/srv/app/worker.sh &
# Clients of the web server (inside the pod, as a sidecar or a neighbour would call it).
while :; do
  wget -q -O /dev/null http://127.0.0.1:8080/
  wget -q -O - http://127.0.0.1:8080/cgi-bin/status >/dev/null
  sleep 1
done
