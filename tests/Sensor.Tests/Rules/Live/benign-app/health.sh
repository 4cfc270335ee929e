#!/bin/sh
# Exec probe, as kubelet runs one: the web server answers and the worker logged recently.
wget -q -O /dev/null http://127.0.0.1:8080/ && [ -d /var/log/app ]
