#!/bin/sh
# Log rotation (cron, every minute): keep three compressed generations of the application log.
cd /var/log/app || exit 0
[ -f app.log ] || exit 0
for i in 2 1; do [ -f app.log.$i.gz ] && mv -f app.log.$i.gz app.log.$((i + 1)).gz; done
mv -f app.log app.log.1 && gzip -f app.log.1
touch app.log
