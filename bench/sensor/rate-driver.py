#!/usr/bin/env python3
"""Drives exec or connect syscalls at a target rate from several processes, for bench/sensor/rate.sh.

Usage: rate-driver.py exec|connect RATE|max SECONDS WORKERS [PORT]
Prints the number of syscalls made and the seconds it took. Each worker paces itself (RATE/WORKERS per second,
catching up when behind); "max" runs as fast as the machine lets it. exec = posix_spawn of /bin/true (reaped as it
goes); connect = TCP connect + close to 127.0.0.1:PORT (an accept-and-close server rate.sh runs).
"""
import os
import socket
import sys
import time
from multiprocessing import Process, Queue

kind, rate, seconds, workers = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
port = int(sys.argv[5]) if len(sys.argv) > 5 else 0
per_worker = None if rate == "max" else float(rate) / workers


def work(out):
    start = time.monotonic()
    end = start + seconds
    n = 0
    running = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if per_worker is not None:
            due = start + n / per_worker
            if due > now:
                time.sleep(min(due - now, 0.01))
                continue
        if kind == "exec":
            os.posix_spawn("/bin/true", ["/bin/true"], {})
            running += 1
            while running > 0:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                running -= 1
            if running > 64:
                os.wait()
                running -= 1
        else:
            c = socket.create_connection(("127.0.0.1", port))
            c.close()
        n += 1
    while running > 0:
        os.wait()
        running -= 1
    out.put((n, time.monotonic() - start))


q = Queue()
procs = [Process(target=work, args=(q,)) for _ in range(workers)]
for p in procs:
    p.start()
results = [q.get() for _ in procs]
for p in procs:
    p.join()
print(sum(r[0] for r in results), max(r[1] for r in results))
