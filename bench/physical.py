#!/usr/bin/env python3
"""bench/physical.py — the machine's physical limits, measured the way the
mail servers use it, to print beside their figures (bench/run runs it first).

usage: bench/physical.py [-d DIR] [-s SECONDS] [-o OUT.json]

  -d DIR      a folder on the filesystem where the instances keep their state
              (default /tmp, where bench/run's scripts put it)
  -s SECONDS  how long each timed loop runs (default 3)

Measures, one after the other:
  durable_create_rate  files made durable per second: create a new file,
                       write 4 KiB, fsync it, close, fsync the directory
                       (what a delivery costs at least, once; a delivery of
                       either server does ~4 fsyncs)
  fsync_rate           fsync of a 4 KiB overwrite of one file, per second
  seq_write_mb_s       sequential write of 1 MiB blocks, fsync at the end, MB/s
  loopback_tcp_mb_s    TCP over 127.0.0.1, one connection, 1 MiB sends to a
                       receiver in another process, MB/s
  sha1_mb_s            SHA-1 of 1 MiB buffers on one core, MB/s
  page_cache_fill_mb_s 4 GiB written to a new file in 1 MiB blocks, no fsync,
                       last of all (at most a sixth of the available memory,
                       so that no writer is throttled, and a quarter of the
                       free disk): copying into page-cache pages the kernel
                       takes from its free memory, MB/s. On a VM whose free
                       memory is handed back to the host (virtio-balloon free
                       page reporting, as here), each such page costs a host
                       fault on first touch: an initial sync writes its whole
                       mailbox into such pages (docs/PERFORMANCE.md)
Prints one line per limit and writes a JSON document:
  {"benchmark": "physical", "when", "machine_start", "machine_end",
   "state_dir", "limits": [{"name", "title", "unit", "value"}, ...]}
"""
import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

BLOCK = os.urandom(4096)
MIB_BLOCK = os.urandom(1 << 20)


def per_second(seconds, step):
    """Runs step(i) for i = 0, 1, ... during `seconds`; steps per second."""
    count, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        step(count)
        count += 1
    return count / (time.monotonic() - t0)


def durable_create_rate(folder, seconds):
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def create(i):
        fd = os.open(os.path.join(folder, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, BLOCK)
        os.fsync(fd)
        os.close(fd)
        os.fsync(dfd)

    try:
        return per_second(seconds, create)
    finally:
        os.close(dfd)


def fsync_rate(folder, seconds):
    fd = os.open(os.path.join(folder, "fsync"), os.O_WRONLY | os.O_CREAT, 0o600)

    def overwrite(_):
        os.pwrite(fd, BLOCK, 0)
        os.fsync(fd)

    try:
        return per_second(seconds, overwrite)
    finally:
        os.close(fd)


def seq_write_mb_s(folder, seconds):
    path = os.path.join(folder, "seq")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds and written < (2 << 30):
            written += os.write(fd, MIB_BLOCK)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(path)
    return written / (time.monotonic() - t0) / 1e6


def _receiver(port_q):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port_q.put(srv.getsockname()[1])
        conn, _ = srv.accept()
        buf = bytearray(1 << 20)
        with conn:
            while conn.recv_into(buf):
                pass


def loopback_tcp_mb_s(seconds):
    port_q = mp.Queue()
    rx = mp.Process(target=_receiver, args=(port_q,))
    rx.start()
    sent = 0
    with socket.create_connection(("127.0.0.1", port_q.get())) as s:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            s.sendall(MIB_BLOCK)
            sent += len(MIB_BLOCK)
        s.shutdown(socket.SHUT_WR)
        rx.join()
        elapsed = time.monotonic() - t0
    return sent / elapsed / 1e6


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 30


def page_cache_fill_mb_s(folder, total=None):
    total = total or min(4 << 30, available_bytes() // 6, shutil.disk_usage(folder).free // 4)
    path = os.path.join(folder, "fill")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0, done = time.monotonic(), 0
        while done < total:
            done += os.write(fd, MIB_BLOCK)
        elapsed = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return done / elapsed / 1e6


def sha1_mb_s(seconds):
    h, done, t0 = hashlib.sha1(), 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        h.update(MIB_BLOCK)
        done += len(MIB_BLOCK)
    return done / (time.monotonic() - t0) / 1e6


def measure(state_dir, seconds):
    folder = tempfile.mkdtemp(prefix="replimail-physical-", dir=state_dir)
    try:
        limits = [
            ("durable_create_rate", "create + write 4 KiB + fsync + directory fsync", "files/s",
             durable_create_rate(folder, seconds)),
            ("fsync_rate", "4 KiB overwrite + fsync", "fsync/s", fsync_rate(folder, seconds)),
            ("seq_write_mb_s", "sequential write, fsync at the end", "MB/s",
             seq_write_mb_s(folder, seconds)),
        ]
        limits += [
            ("loopback_tcp_mb_s", "TCP over 127.0.0.1, one connection", "MB/s",
             loopback_tcp_mb_s(seconds)),
            ("sha1_mb_s", "SHA-1 on one core", "MB/s", sha1_mb_s(seconds)),
            # Last: what the tests before freed is quick to use again.
            ("page_cache_fill_mb_s", "up to 4 GiB written into free page-cache pages, no fsync",
             "MB/s", page_cache_fill_mb_s(folder)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [{"name": n, "title": t, "unit": u, "value": round(v, 1)} for n, t, u, v in limits]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", default="/tmp")
    ap.add_argument("-s", type=float, default=3.0)
    ap.add_argument("-o")
    a = ap.parse_args()
    doc = {"benchmark": "physical", "when": bl.utc_now(), "machine_start": bl.machine(),
           "state_dir": os.path.abspath(a.d)}
    doc["limits"] = measure(a.d, a.s)
    doc["machine_end"] = bl.machine()
    for lim in doc["limits"]:
        print("%-20s %10.1f %-8s %s" % (lim["name"], lim["value"], lim["unit"], lim["title"]))
    if a.o:
        bl.write_result(a.o, doc)
    else:
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
