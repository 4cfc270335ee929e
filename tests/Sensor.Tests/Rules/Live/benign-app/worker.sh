#!/bin/sh
# The application's own work: reads its configuration, processes items, logs what it did.
n=0
while :; do
  n=$((n + 1))
  level=$(grep '^level=' /etc/app.conf | cut -d= -f2)
  items=$(seq 1 20 | awk '{ s += $1 } END { print s }')
  echo "$(date -Iseconds) level=$level batch=$n sum=$items host=$(hostname)" >> /var/log/app/app.log
  sort /etc/passwd | uniq | wc -l > /tmp/work/users.count
  sed -e 's/level=.*/level=info/' /etc/app.conf > /tmp/work/app.conf.rendered
  sleep 2
done
