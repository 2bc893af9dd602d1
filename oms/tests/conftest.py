"""Fixtures of the webhook tests: a loopback HTTP receiver."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """A loopback HTTP server answering with the scripted statuses, recording requests.

    ``host``/``port``: where it listens (any 127.x address; port 0 picks one).
    ``tls_context``: an ``ssl.SSLContext`` makes it an HTTPS server.
    """

    def __init__(self, statuses=(200,), location=None, on_post=None, host="127.0.0.1", port=0,
                 tls_context=None):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                if on_post:
                    on_post()
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                receiver.requests.append({"headers": dict(self.headers), "body": body,
                                          "status": status})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.handler, self.host, self.tls_context = Handler, host, tls_context
        self.port = port
        self._serve()
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls_context else 'http'}://{host}:{self.port}/hook"

    def _serve(self):
        self.server = ThreadingHTTPServer((self.host, self.port), self.handler)
        if self.tls_context is not None:
            self.server.socket = self.tls_context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def down(self):
        """Stop listening: connections are refused until ``up()``."""
        self.close()

    def up(self):
        self._serve()


class FakeDns:
    """``answers``: ``{hostname: [address, …]}``, or a callable returning the list, read at
    each resolution; ``calls`` lists the names resolved through it, in order."""

    def __init__(self):
        self.answers, self.calls = {}, []


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve the names put in ``fake_dns.answers`` to the addresses given there (other names,
    and address literals, resolve as usual)."""
    fake, real = FakeDns(), socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        if host not in fake.answers:
            return real(host, port, family, type, proto, flags)
        fake.calls.append(host)
        addresses = fake.answers[host]
        addresses = addresses() if callable(addresses) else addresses
        port = int(port or 0)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


@pytest.fixture
def receiver(settings):
    """Make receivers on 127.0.0.1 whose ``host:port`` is an allowed webhook target."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    made = []

    def make(*args, **kwargs):
        made.append(Receiver(*args, **kwargs))
        settings.WEBHOOK_ALLOWED_HOSTS = [*settings.WEBHOOK_ALLOWED_HOSTS, f"127.0.0.1:{made[-1].port}"]
        return made[-1]

    yield make
    for r in made:
        r.close()
