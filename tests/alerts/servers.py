"""Real servers for the alert tests: an HTTP webhook receiver and an SMTP server with STARTTLS
and login (aiosmtpd), both on 127.0.0.1, plus a TLS context that trusts the SMTP server."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class WebhookReceiver:
    """Records every POSTed JSON body; answers ``fail_first`` requests with ``fail_status``."""

    def __init__(
        self,
        path: str = "/hooks/T000/B000/s3cr3t-token",
        fail_first: int = 0,
        fail_status: int = 500,
    ):
        self.path = path
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[dict] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing and self.path == receiver.path:
                        receiver.requests.append(json.loads(body))
                status = (
                    receiver.fail_status
                    if failing
                    else (200 if self.path == receiver.path else 404)
                )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        with self.server.lock:
            self.server.attempts += 1
            if self.server.attempts <= self.server.fail_first:
                return "451 4.3.0 try again later"
            self.server.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "message": message_from_bytes(envelope.original_content, policy=policy.default),
                    "tls": session.ssl is not None,
                    "login": session.auth_data if session.authenticated else None,
                }
            )
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS and accepts one user/password."""

    def __init__(self, user: str = "alerts", password: str = "pa55-word-xyz", fail_first: int = 0):
        self.user, self.password = user, password
        self.fail_first = fail_first
        self.attempts = 0
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_context)
        self.client_context = ssl.create_default_context()
        ca.configure_trust(self.client_context)
        self.port = free_port()
        self.controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=server_context,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_require_tls=True,
            auth_required=True,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(
            success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
