"""An httpx transport that hands requests to an in-process ``Sandbox``: no port, no socket."""

from __future__ import annotations

import httpx

from bulksync.sandbox.app import Sandbox, SandboxRequest


class SandboxTransport(httpx.BaseTransport):
    """Answers every request with ``Sandbox.handle``; an injected drop raises as a lost link."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.sandbox.handle(
            SandboxRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.url.params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.read(),
            )
        )
        if answer.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            answer.status, headers=dict(answer.headers), content=answer.body, request=request
        )
