#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "time: $(date)"
echo "load: $(cat /proc/loadavg)"
echo "users: $(grep -c : /etc/passwd)"
echo "uptime: $(cut -d' ' -f1 /proc/uptime)"
