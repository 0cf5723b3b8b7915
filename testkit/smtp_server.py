"""A real SMTP server for the merger's email tests, on aiosmtpd (PyPI).

usage: smtp_server.py PORT MAILDIR [--starttls CERT KEY | --tls CERT KEY] [--auth USER PASSWORD]

Stores every message in MAILDIR. With --starttls the server offers STARTTLS and refuses mail
before it; with --tls it speaks TLS from the first byte (SMTPS); with --auth it requires AUTH
PLAIN/LOGIN with these credentials (over TLS only).
"""
import asyncio
import mailbox
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content)
        return "250 OK"


def main(argv):
    port, maildir = int(argv[1]), argv[2]
    args = argv[3:]
    context, implicit, creds = None, False, None
    while args:
        flag = args.pop(0)
        if flag in ("--starttls", "--tls"):
            cert, key = args.pop(0), args.pop(0)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            implicit = flag == "--tls"
        elif flag == "--auth":
            creds = (args.pop(0), args.pop(0))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and creds is not None and (
            auth_data.login.decode(), auth_data.password.decode()) == creds
        return AuthResult(success=ok)

    kwargs = {}
    if creds:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    if context and not implicit:
        kwargs.update(tls_context=context, require_starttls=True)
    if implicit:
        # aiosmtpd only counts STARTTLS as TLS; an SMTPS connection is encrypted all along.
        kwargs.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Store(maildir), hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv)
