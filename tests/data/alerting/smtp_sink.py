"""A local SMTP sink for the receiver interop tests.

Usage: smtp_sink.py PORT OUTDIR [USER:PASSWORD]
Listens on 127.0.0.1:PORT (no TLS) and writes each received message to OUTDIR/N.eml
with the envelope in OUTDIR/N.env (MAIL FROM on the first line, then one RCPT TO a
line). With USER:PASSWORD it offers AUTH PLAIN and LOGIN over the plain connection,
requires it, accepts only those credentials and writes the mechanism used to
OUTDIR/N.auth. Prints "ready" on stdout once listening. Stops when stdin closes.
"""
import sys
import os
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
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def main():
    port = int(sys.argv[1])
    outdir = sys.argv[2]
    kwargs = {}
    if len(sys.argv) > 3:
        user, password = sys.argv[3].split(":", 1)

        def check(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode() == user and auth_data.password.decode() == password)
            if ok:
                return AuthResult(success=True, auth_data=mechanism)
            return AuthResult(success=False, handled=False)

        kwargs = dict(authenticator=check, auth_require_tls=False, auth_required=True)
    ctl = Controller(Recorder(outdir), hostname="127.0.0.1", port=port, **kwargs)
    ctl.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
