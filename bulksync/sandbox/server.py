"""``bulksync sandbox serve``: the sandbox behind uvicorn, a real HTTP server."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bulksync.sandbox.app import Sandbox, SandboxRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SandboxASGI:
    """An ASGI application over a ``Sandbox``; the work runs in a thread of its own."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query_string = scope.get("query_string", b"").decode("latin-1")

        request = SandboxRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        answer = await asyncio.to_thread(self.sandbox.handle, request)
        if answer.drop:
            _drop_connection(send)
            # Let the event loop register the lost connection, so that uvicorn does not
            # complain that the application returned without answering.
            for _ in range(3):
                await asyncio.sleep(0)
            return
        headers = [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def _drop_connection(send: Send) -> None:
    """Close the socket without an answer, as a failing load balancer would.

    ASGI has no word for this, so it reaches for the transport of uvicorn's h11 protocol
    (``send`` is a bound method of its request cycle). The server is pinned to h11
    (``_SandboxProtocol``).
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:  # pragma: no cover - only if uvicorn changes its insides
        raise RuntimeError("cannot drop the connection: uvicorn's transport is out of reach")
    transport.abort()


class _OneWritePerTurn:
    """A transport whose writes made in one turn of the event loop leave as one.

    uvicorn writes a response's status line and headers, then its body, each with a
    ``write`` of its own; the sandbox's app sends both in the same turn, so joining them
    puts a whole answer in one segment. Everything else is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _SandboxProtocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY set and one write per answer.

    uvicorn binds its socket with protocol number 0, so asyncio leaves Nagle's algorithm
    on for the connections it accepts: the second small write of an answer then waits for
    the client's delayed ACK, about 40 ms a request on a kept-alive connection.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(_OneWritePerTurn(transport))  # type: ignore[arg-type]


def make_server(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8765) -> uvicorn.Server:
    """A uvicorn server for the sandbox; ``port=0`` picks a free one."""
    config = uvicorn.Config(
        SandboxASGI(sandbox),
        host=host,
        port=port,
        http=_SandboxProtocol,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(config)


class ServerThread:
    """The sandbox served over loopback HTTP from a background thread (for tests)."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(sandbox, host, port)
        # Bound as ``sandbox serve`` binds it, so that tests serve the way it does.
        sock = self.server.config.bind_socket()
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="sandbox-http", daemon=True
        )

    def start(self) -> str:
        """Start serving; return the base URL."""
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            threading.Event().wait(0.01)
        sockets = self.server.servers[0].sockets
        host, port = sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/api/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


logging.getLogger("uvicorn.error").propagate = True
