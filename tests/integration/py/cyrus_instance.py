"""A throwaway Cyrus IMAP 3.6 instance (Debian packages) for interop tests.

Laid out as ../shared/peer/cyrus/setup.sh lays out its instances, but in a
directory and on ports the caller chooses, so a test never touches the
peer's fixed-port instances.

usage:
  cyrus_instance.py available
      exit 0 if Debian's Cyrus 3.6 can run here, else print why, exit 1
  cyrus_instance.py start DIR --servername NAME --imap-port P
        [--lmtp-port P] [--sync-port P] [--users u:pw,...] [--admins "a b"]
        [--channel NAME --channel-port P --sync-auth u:pw] [--conf "k: v"]...
      create the instance in DIR (which must be empty or absent) and start
      its cyrmaster; waits until every port accepts connections
  cyrus_instance.py stop DIR
      TERM (then KILL after 10 s) to the cyrmaster started in DIR
  cyrus_instance.py tool DIR NAME [ARGS...]
      run /usr/lib/cyrus/bin/NAME -C DIR/etc/imapd.conf ARGS as the cyrus
      user; its exit status, stdout and stderr are passed through
"""
import argparse
import os
import pwd
import grp
import signal
import socket
import subprocess
import sys
import time

CYRUS_BIN = "/usr/lib/cyrus/bin"
CYRMASTER = "/usr/sbin/cyrmaster"
CYRUS_USER = "cyrus"
CYRUS_GROUP = "mail"
HOST = "127.0.0.1"


def why_unavailable():
    for path in (CYRMASTER, CYRUS_BIN + "/imapd", CYRUS_BIN + "/lmtpd",
                 CYRUS_BIN + "/sync_server", CYRUS_BIN + "/sync_client",
                 CYRUS_BIN + "/ctl_cyrusdb", "/usr/sbin/saslpasswd2"):
        if not os.access(path, os.X_OK):
            return ("%s is missing: install cyrus-imapd cyrus-replication sasl2-bin "
                    "(../shared/peer/cyrus/setup.sh does)" % path)
    try:
        pwd.getpwnam(CYRUS_USER)
        grp.getgrnam(CYRUS_GROUP)
    except KeyError:
        return "no %s user or %s group" % (CYRUS_USER, CYRUS_GROUP)
    if os.geteuid() != 0:
        return "Cyrus runs as the cyrus user: the test must run as root"
    return ""


def as_cyrus():
    pw = pwd.getpwnam(CYRUS_USER)
    gid = grp.getgrnam(CYRUS_GROUP).gr_gid

    def demote():
        os.setgroups([gid])
        os.setgid(gid)
        os.setuid(pw.pw_uid)
    return demote


def chown_tree(path):
    uid = pwd.getpwnam(CYRUS_USER).pw_uid
    gid = grp.getgrnam(CYRUS_GROUP).gr_gid
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid)


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def write(path, text, mode=0o640):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def start(a):
    d = os.path.abspath(a.dir)
    if os.path.exists(d) and os.listdir(d):
        sys.exit("%s is not empty" % d)
    for sub in ("etc", "conf", "spool/stage.", "sieve", "socket", "run", "log",
                "conf/db", "conf/proc", "conf/socket", "conf/log", "conf/msg", "conf/user",
                "conf/quota", "conf/lock", "conf/sync", "conf/ptclient"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    os.chmod(d, 0o755)
    conf = d + "/etc/imapd.conf"
    lines = [
        "servername: " + a.servername,
        "syslog_prefix: " + a.servername,
        "configdirectory: %s/conf" % d,
        "defaultpartition: default",
        "partition-default: %s/spool" % d,
        "sievedir: %s/sieve" % d,
        "lmtpsocket: %s/socket/lmtp" % d,
        "idlesocket: %s/socket/idle" % d,
        "notifysocket: %s/socket/notify" % d,
        "altnamespace: yes",
        "unixhierarchysep: yes",
        "allowplaintext: yes",
        "sasl_pwcheck_method: auxprop",
        "sasl_auxprop_plugin: sasldb",
        "sasl_sasldb_path: %s/etc/sasldb2" % d,
        "sasl_mech_list: PLAIN",
        "admins: " + a.admins,
    ]
    if a.channel:
        user, _, pw = a.sync_auth.partition(":")
        lines += [
            "sync_log: yes",
            "sync_log_channels: " + a.channel,
            "%s_sync_host: %s" % (a.channel, HOST),
            "%s_sync_port: %d" % (a.channel, a.channel_port),
            "sync_authname: " + user,
            "sync_password: " + pw,
            "sync_try_imap: 0",
            "sync_repeat_interval: 1s",
            "sync_shutdown_file: %s/conf/sync/shutdown" % d,
        ]
    # A --conf line replaces a line above with the same option (Cyrus refuses
    # an option given twice).
    given = {c.partition(":")[0].strip() for c in a.conf}
    lines = [l for l in lines if l.partition(":")[0].strip() not in given] + a.conf
    write(conf, "\n".join(lines) + "\n")

    services = ['  imap cmd="imapd -C %s" listen="%s:%d" prefork=0' % (conf, HOST, a.imap_port)]
    if a.lmtp_port:
        services.append('  lmtp cmd="lmtpd -C %s -a" listen="%s:%d" prefork=0'
                        % (conf, HOST, a.lmtp_port))
    if a.sync_port:
        services.append('  syncserver cmd="sync_server -C %s" listen="%s:%d" prefork=0'
                        % (conf, HOST, a.sync_port))
    write(d + "/etc/cyrus.conf",
          'START {\n  recover cmd="ctl_cyrusdb -C %s -r"\n}\nSERVICES {\n%s\n}\n'
          % (conf, "\n".join(services)))

    for spec in a.users.split(","):
        user, _, pw = spec.partition(":")
        subprocess.run(["/usr/sbin/saslpasswd2", "-p", "-c", "-f", d + "/etc/sasldb2",
                        "-u", a.servername, user], input=pw.encode(), check=True)
    chown_tree(d)
    subprocess.run([CYRUS_BIN + "/ctl_cyrusdb", "-C", conf, "-r"], preexec_fn=as_cyrus(),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([CYRMASTER, "-C", conf, "-M", d + "/etc/cyrus.conf", "-p",
                    d + "/run/master.pid", "-L", d + "/log/master.log", "-d"], check=True)
    ports = [p for p in (a.imap_port, a.lmtp_port, a.sync_port) if p]
    deadline = time.time() + 20
    while time.time() < deadline:
        if all(port_open(p) for p in ports):
            return
        time.sleep(0.1)
    sys.exit("cyrmaster in %s: ports %s not listening; master.log:\n%s"
             % (d, ports, open(d + "/log/master.log").read()))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(a):
    pidfile = os.path.abspath(a.dir) + "/run/master.pid"
    try:
        pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        return
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def tool(a):
    conf = os.path.abspath(a.dir) + "/etc/imapd.conf"
    r = subprocess.run([CYRUS_BIN + "/" + a.name, "-C", conf] + a.args,
                       preexec_fn=as_cyrus(), cwd="/")
    sys.exit(r.returncode)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("available")
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--servername", required=True)
    s.add_argument("--imap-port", type=int, required=True)
    s.add_argument("--lmtp-port", type=int, default=0)
    s.add_argument("--sync-port", type=int, default=0)
    s.add_argument("--users", default="admin:adminpw")
    s.add_argument("--admins", default="admin")
    s.add_argument("--channel", default="")
    s.add_argument("--channel-port", type=int, default=0)
    s.add_argument("--sync-auth", default="admin:adminpw")
    s.add_argument("--conf", action="append", default=[])
    p = sub.add_parser("stop")
    p.add_argument("dir")
    t = sub.add_parser("tool")
    t.add_argument("dir")
    t.add_argument("name")
    t.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd == "available":
        why = why_unavailable()
        if why:
            print(why)
            sys.exit(1)
    elif a.cmd == "start":
        start(a)
    elif a.cmd == "stop":
        stop(a)
    else:
        tool(a)


if __name__ == "__main__":
    main()
