"""Loopback HTTP servers that answer what NextStep never should.

They stand in for what sits between bulksync and NextStep when things go wrong: a proxy's
HTML error page, a truncated body, JSON of another shape, an answer that echoes the
request's headers, pagination that never ends, a ``Retry-After`` of an hour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Loopback:
    """A threading HTTP server on a free loopback port, started and stopped with ``with``."""

    httpd: ThreadingHTTPServer

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CannedServer(_Loopback):
    def __init__(self, status: int, body: bytes, content_type: str = "application/json"):
        self.status, self.body, self.content_type = status, body, content_type
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers)))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_GET = do_PATCH = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)


Answer = tuple[int, dict[str, str], bytes]
"""A scripted answer: status, headers, body."""


def _send(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
    status, headers, body = answer
    handler.send_response(status)
    headers = {"Content-Type": "application/json", **headers}
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class ScriptedServer(_Loopback):
    """Answers each request with ``respond(method, path, headers)``: an ``Answer``."""

    def __init__(self, respond: Callable[[str, str, dict[str, str]], Answer]):
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                _send(self, respond(self.command, self.path, dict(self.headers)))

            do_GET = do_PATCH = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)


class RewritingProxy(_Loopback):
    """Forwards every request to ``target`` (a base URL), rewriting PATCH bodies on the
    way: a NextStep that silently coerces what it is sent (trims, truncates).

    ``before(method, path)`` runs before a request is forwarded (another person's edit
    landing at that moment); ``answer(method, path, status, body)`` rewrites an answer
    after the work was done (a proxy that mangles or cuts the body);
    ``intercept(method, path, headers)`` may answer a request itself instead (an
    ``Answer``), or return None to let it through."""

    def __init__(
        self,
        target: str,
        rewrite: Callable[[bytes], bytes] = lambda body: body,
        intercept: Callable[[str, str, dict[str, str]], Answer | None] = lambda *_: None,
        *,
        before: Callable[[str, str], None] | None = None,
        answer: Callable[[str, str, int, bytes], bytes] | None = None,
    ):
        import httpx

        self.target = target.rstrip("/")
        self.rewrite = rewrite
        self.before = before
        self.answer = answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                own = intercept(self.command, self.path, dict(self.headers))
                if own is not None:
                    _send(self, own)
                    return
                if self.command == "PATCH" and body:
                    body = outer.rewrite(body)
                path = self.path.removeprefix("/api/v1")
                if outer.before is not None:
                    outer.before(self.command, path)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type", "accept")
                }
                answer = httpx.request(
                    self.command, outer.target + path, content=body, headers=headers, timeout=30
                )
                content = answer.content
                if outer.answer is not None:
                    content = outer.answer(self.command, path, answer.status_code, content)
                self.send_response(answer.status_code)
                for name in ("Content-Type", "Retry-After"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PATCH = do_POST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)
