"""A git smart-HTTP server on 127.0.0.1: ``git http-backend`` run as a CGI for bare repositories.

For tests of pushing (ours and users'): ``GitHttpServer(root, token)`` serves every bare repository
under ``root`` at ``<url>/<path>.git``, fetch and push. Each request must carry the token, as HTTP
Basic (any user name, the token as password, which is what GitHub accepts) or ``Bearer``;
otherwise 401. The CGI runs as the current user (Python's ``http.server`` CGI support would drop
to ``nobody`` as root, and git then refuses a repository it does not own). Requests are recorded
without their credentials.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crashpilot.loopback import LoopbackServer

__all__ = ["GitHttpServer", "GitRequest"]

_BACKEND_TIMEOUT = 120.0


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    query: str
    authorized: bool
    status: int


class GitHttpServer(LoopbackServer):
    """Serves the bare repositories under ``root``; use as a context manager."""

    def __init__(self, root: Path, token: str, *, user: str = "crashpilot-bot") -> None:
        self.root = Path(root)
        self.token = token
        self.user = user
        self.requests: list[GitRequest] = []
        self._lock = threading.Lock()
        super().__init__(_handler(self), name="git-http")

    @property
    def url(self) -> str:
        return self.base

    def authorized(self, header: str) -> bool:
        """Whether an ``Authorization`` header carries the token."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() == self.token
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            return decoded.partition(":")[2] == self.token
        return False

    def cgi(
        self, method: str, path: str, query: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run ``git http-backend`` for one request; returns status, headers and body."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "REMOTE_USER": self.user,
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "crashpilot-git-http",
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        for name in ("Content-Encoding", "Git-Protocol", "Accept"):
            if headers.get(name):
                env["HTTP_" + name.upper().replace("-", "_")] = headers[name]
        proc = subprocess.run(
            ["git", "http-backend"], input=body, capture_output=True, env=env, timeout=_BACKEND_TIMEOUT
        )
        head, sep, rest = proc.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, rest = proc.stdout.partition(b"\n\n")
        status, out_headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                out_headers.append((key.strip(), value.strip()))
        if proc.returncode != 0 and not sep:
            return 500, [("Content-Type", "text/plain")], proc.stderr[-2000:]
        return status, out_headers, rest


def _read_chunked(rfile: Any) -> bytes:
    out = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        out += rfile.read(size)
        rfile.readline()


def _handler(app: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = _read_chunked(self.rfile)
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = app.authorized(self.headers.get("Authorization", ""))
            if not ok:
                status, headers, payload = 401, [("WWW-Authenticate", 'Basic realm="git"')], b"unauthorized\n"
            elif ".." in parts.path.split("/"):
                status, headers, payload = 403, [], b"forbidden\n"
            else:
                status, headers, payload = app.cgi(self.command, parts.path, parts.query, self.headers, body)
            with app._lock:
                app.requests.append(GitRequest(self.command, parts.path, parts.query, ok, status))
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

    return Handler
