#!/usr/bin/env python3
"""One IMAP login over TLS, with or without a client certificate.

Usage: tls_client_cert.py --port N --tls-port N --ca FILE [--cert FILE --key FILE]

Logs in as alice/alicepw twice: over STARTTLS on --port and over implicit
TLS on --tls-port, trusting the server's certificate through --ca and
presenting --cert/--key if given. Prints one line per attempt,
"accepted <how>" or "refused <how>: <why>", and exits 0 (the test reads the
lines: a refusal is what it expects of some servers).
"""
import argparse
import imaplib
import ssl


def context(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.check_hostname = False  # the certificate names 127.0.0.1 as an IP
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    return ctx


def attempt(how, connect):
    # With TLS 1.3 the server checks the client's certificate after the
    # client has finished its handshake: the refusal arrives on the first
    # read, so the attempt covers the login and a command.
    try:
        c = connect()
        typ, _ = c.login("alice", "alicepw")
        if typ != "OK":
            print("refused %s: LOGIN %s" % (how, typ), flush=True)
            return
        typ, _ = c.select("INBOX")
        c.logout()
        print(("accepted %s" % how) if typ == "OK" else ("refused %s: SELECT %s" % (how, typ)),
              flush=True)
    except (ssl.SSLError, OSError, imaplib.IMAP4.error, EOFError) as e:
        print("refused %s: %s" % (how, str(e).replace("\n", " ")), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()

    def starttls():
        c = imaplib.IMAP4("127.0.0.1", a.port, timeout=20)
        c.starttls(ssl_context=context(a))
        return c

    attempt("starttls", starttls)
    attempt("imaps",
            lambda: imaplib.IMAP4_SSL("127.0.0.1", a.tls_port, ssl_context=context(a), timeout=20))


if __name__ == "__main__":
    main()
