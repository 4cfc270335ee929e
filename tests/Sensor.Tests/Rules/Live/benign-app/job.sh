#!/bin/sh
# Periodic job (cron, every minute): back up the site, clean old work files.
tar -cf /tmp/work/site.tar -C /srv www
gzip -f /tmp/work/site.tar
find /tmp/work -name '*.tmp' -mmin +5 -exec rm -f {} \;
ls -l /tmp/work > /tmp/work/listing.txt
echo "$(date -Iseconds) backup done" >> /var/log/app/job.log
