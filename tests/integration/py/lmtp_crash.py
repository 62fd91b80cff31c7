"""Kill lmtpd with SIGKILL in the middle of a delivery, and report what the
client saw, as one JSON object.

usage: lmtp_crash.py --port P --master-pid M --mode data|dot
                     [--acked 5] [--prefix x] [--rcpt alice]

First `--acked` messages are delivered normally. Then one more transaction
starts and the lmtpd serving this connection is killed:
  data: after half of the message body was sent (no final dot);
  dot:  right after the final dot, before reading the reply.
The lmtpd is the process holding the server end of our TCP connection
(found through /proc/net/tcp and /proc/*/fd); it is killed only if its parent
is the master given by --master-pid. Finally one message is delivered on a
new connection, to show the service recovers.

Output: {"acked": [ids], "sent": {id: [size, sha1]}, "cut": id,
         "killed": pid, "after_reply": "code text or error",
         "recovered": bool}
Exit status 0 if the kill happened as described, else 1.
"""
import argparse
import hashlib
import json
import os
import signal
import smtplib
import sys
import time

import lmtpkit


def socket_inode(local_port, remote_port):
    """Inode of the loopback TCP socket local_port <-> remote_port."""
    want_local = "0100007F:%04X" % local_port
    want_remote = "0100007F:%04X" % remote_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                return fields[9]
    return None


def holder_of(inode, parent):
    """PID of a child of `parent` holding socket `inode` open, or None."""
    target = "socket:[%s]" % inode
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == target:
                    return int(pid)
        except (OSError, IndexError, ValueError):
            continue
    return None


def find_lmtpd(conn, server_port, master_pid):
    local_port = conn.sock.getsockname()[1]
    for _ in range(100):
        inode = socket_inode(server_port, local_port)
        pid = holder_of(inode, master_pid) if inode else None
        if pid:
            return pid
        time.sleep(0.02)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--master-pid", type=int, required=True)
    ap.add_argument("--mode", choices=["data", "dot"], required=True)
    ap.add_argument("--acked", type=int, default=5)
    ap.add_argument("--prefix", default="x")
    ap.add_argument("--rcpt", default="alice")
    a = ap.parse_args()

    out = {"acked": [], "sent": {}, "cut": None, "killed": None,
           "after_reply": None, "recovered": False}

    def message(i):
        msg = lmtpkit.make_message(a.prefix, i, a.rcpt, size=20000)
        out["sent"]["%s-%d" % (a.prefix, i)] = [len(msg), hashlib.sha1(msg).hexdigest()]
        return msg

    conn = lmtpkit.connect(a.port)
    pid = find_lmtpd(conn, a.port, a.master_pid)
    if pid is None:
        print(json.dumps(out))
        sys.exit(1)
    for i in range(a.acked):
        res = lmtpkit.deliver(conn, "sender@example.com", [a.rcpt], message(i))
        if res[a.rcpt][0] == 250:
            out["acked"].append("%s-%d" % (a.prefix, i))

    cut = a.acked
    msg = message(cut)
    out["cut"] = "%s-%d" % (a.prefix, cut)
    conn.mail("sender@example.com")
    conn.rcpt(a.rcpt)
    conn.putcmd("data")
    code, _ = conn.getreply()
    if code != 354:
        print(json.dumps(out))
        sys.exit(1)
    data = smtplib.quotedata(msg.decode("latin-1")).encode("latin-1")
    if a.mode == "data":
        conn.send(data[: len(data) // 2])
        time.sleep(0.3)  # let lmtpd read and stage the first half
    else:
        conn.send(data + b".\r\n")
    os.kill(pid, signal.SIGKILL)
    out["killed"] = pid
    try:
        code, text = conn.getreply()
        out["after_reply"] = "%d %s" % (code, text.decode(errors="replace"))
        if code == 250:  # the reply raced the kill: the client saw an ack
            out["acked"].append(out["cut"])
    except (smtplib.SMTPException, OSError) as e:
        out["after_reply"] = "error: %r" % (e,)
    try:
        conn.close()
    except OSError:
        pass

    after = message(cut + 1)
    try:
        conn = lmtpkit.connect(a.port)
        res = lmtpkit.deliver(conn, "sender@example.com", [a.rcpt], after)
        if res[a.rcpt][0] == 250:
            out["acked"].append("%s-%d" % (a.prefix, cut + 1))
            out["recovered"] = True
        conn.quit()
    except (smtplib.SMTPException, OSError) as e:
        out["after_reply"] = "%s; recovery: %r" % (out["after_reply"], e)
    print(json.dumps(out))
    sys.exit(0)


if __name__ == "__main__":
    main()
