"""Deliveries and an open IMAP session while a user moves between slots.

usage: move_load.py --etcd http://h:p[,...] --prefix /p/ --user U
                    --stop-file F [--imap-port P --password W] [--prefix-id m]
                    [--via PORT]

Delivers message after message (lmtpkit's "<prefix-id>-<i>") to U until the
file F exists, each to the LMTP port of the slot the directory's
<prefix>users/U names as primary, read from etcd's JSON gateway for every
message: the route an MTA's map lookup gives, blind to the moves key, so
that only the source slot's own fence stands between a delivery and the
old copy. With --via, every message goes to that LMTP port on 127.0.0.1
instead (lmtpproxyd, which routes by the directory itself; the slot in
"acked" is then "via"). A 4xx reply (or a connection refused) is retried after 20 ms, as
an MTA would; a 5xx counts as failed. With --imap-port, an IMAP session
(through nginx) stays open on U's INBOX and sends NOOP every 100 ms; the
first BYE it gets is reported and it logs in again.
Output (one JSON object): {"acked": [[id, slot], ...], "failed": [ids],
"temp_refusals": n, "refusal_texts": [first 5], "bye": "first BYE or null"
"relogins": n}
"""
import argparse
import base64
import imaplib
import json
import os
import threading
import time
import urllib.request

import lmtpkit


def etcd_get(endpoints, key):
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    last = None
    for ep in endpoints:
        try:
            req = urllib.request.Request(ep + "/v3/kv/range", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                kvs = json.load(r).get("kvs") or []
                return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None
        except OSError as e:
            last = e
    raise last


def route(endpoints, prefix, user):
    entry = etcd_get(endpoints, prefix + "users/" + user)
    slot = etcd_get(endpoints, prefix + "slots/" + entry["primary"])
    return entry["primary"], slot["host"], slot["lmtp_port"]


def imap_watch(args, stop, out):
    def login():
        # A login during the switch may be refused or cut (temporary): again.
        for _ in range(300):
            try:
                m = imaplib.IMAP4("127.0.0.1", args.imap_port, timeout=30)
                m.login(args.user, args.password)
                m.select("INBOX")
                return m
            except (imaplib.IMAP4.error, OSError):
                time.sleep(0.1)
        raise RuntimeError("no IMAP login for 30 s")
    m = login()
    while not stop.is_set():
        time.sleep(0.1)
        try:
            typ, data = m.noop()
            for line in m.untagged_responses.pop("BYE", []) or []:
                if out["bye"] is None:
                    out["bye"] = line.decode(errors="replace")
        except (imaplib.IMAP4.abort, OSError) as e:
            if out["bye"] is None:
                out["bye"] = str(e)
            m = login()
            out["relogins"] += 1
    try:
        m.logout()
    except Exception:
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--etcd", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--imap-port", type=int)
    p.add_argument("--password")
    p.add_argument("--prefix-id", default="mv")
    p.add_argument("--via", type=int)
    a = p.parse_args()
    endpoints = [e if e.startswith("http") else "http://" + e
                 for e in a.etcd.replace(" ", ",").split(",") if e]
    out = {"acked": [], "failed": [], "temp_refusals": 0, "refusal_texts": [],
           "bye": None, "relogins": 0}
    stop = threading.Event()
    watcher = None
    if a.imap_port:
        watcher = threading.Thread(target=imap_watch, args=(a, stop, out))
        watcher.start()
    i = 0
    conns = {}
    while not os.path.exists(a.stop_file):
        msg_id = "%s-%d" % (a.prefix_id, i)
        msg = lmtpkit.make_message(a.prefix_id, i, rcpt=a.user, size=600)
        while True:
            if a.via:
                slot, host, port = "via", "127.0.0.1", a.via
            else:
                slot, host, port = route(endpoints, a.prefix, a.user)
            try:
                conn = conns.get(slot) or lmtpkit.connect(port, host)
                conns[slot] = conn
                code, text = lmtpkit.deliver(conn, "sender@example.com", [a.user], msg)[a.user]
            except (OSError, RuntimeError) as e:
                conns.pop(slot, None)
                code, text = 421, str(e)
            if code == 250:
                out["acked"].append([msg_id, slot])
                break
            if code >= 500:
                out["failed"].append(msg_id)
                break
            out["temp_refusals"] += 1
            if len(out["refusal_texts"]) < 5:
                out["refusal_texts"].append("%d %s" % (code, text))
            time.sleep(0.02)
        i += 1
    stop.set()
    if watcher:
        watcher.join()
    for c in conns.values():
        try:
            c.quit()
        except Exception:
            pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
