"""A local SMTP sink for the receiver interop tests.

Usage: smtp_sink.py PORT OUTDIR [--auth USER:PASSWORD] [--only-mechanism MECH]
                    [--starttls CERT KEY]
Listens on 127.0.0.1:PORT and writes each received message to OUTDIR/N.eml with the
envelope in OUTDIR/N.env (MAIL FROM on the first line, then one RCPT TO a line).
--auth offers AUTH (PLAIN and LOGIN, or only MECH) also over a plain connection,
requires it, accepts only those credentials and writes the mechanism used to
OUTDIR/N.auth. --starttls offers STARTTLS with that certificate and requires it
before MAIL; N.tls then records that the session was encrypted. Prints "ready" on
stdout once listening. Stops when stdin closes.
"""
import argparse
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Recorder:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        base = os.path.join(self.outdir, str(n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".env", "w") as f:
            f.write(envelope.mail_from + "\n")
            for r in envelope.rcpt_tos:
                f.write(r + "\n")
        if session.auth_data is not None:
            with open(base + ".auth", "w") as f:
                f.write(str(session.auth_data) + "\n")
        if session.ssl is not None:
            with open(base + ".tls", "w") as f:
                f.write("encrypted\n")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("outdir")
    ap.add_argument("--auth")
    ap.add_argument("--only-mechanism")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def check(server, session, envelope, mechanism, auth_data):
            if auth_data.login.decode() == user and auth_data.password.decode() == password:
                return AuthResult(success=True, auth_data=mechanism)
            return AuthResult(success=False, handled=False)

        kwargs.update(authenticator=check, auth_require_tls=False, auth_required=True)
        if args.only_mechanism:
            others = {"PLAIN", "LOGIN"} - {args.only_mechanism}
            kwargs.update(auth_exclude_mechanism=others)
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.starttls[0], args.starttls[1])
        kwargs.update(tls_context=ctx, require_starttls=True)
    ctl = Controller(Recorder(args.outdir), hostname="127.0.0.1", port=args.port, **kwargs)
    ctl.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
