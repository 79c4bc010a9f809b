"""``sandbox serve`` answers a kept-alive client without a Nagle stall (issue 15).

uvicorn leaves Nagle's algorithm on for the connections it accepts, and writes an
answer's headers and body apart: the body then waits ~40 ms for the client's delayed
ACK. These tests check the two causes, not a timing: the accepted socket has
TCP_NODELAY set, and a whole answer reaches the client in one segment.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from bulksync.sandbox import SANDBOX_API_KEY
from bulksync.sandbox.server import ServerThread


@pytest.fixture
def served(sandbox):
    thread = ServerThread(sandbox)
    url = urlsplit(thread.start())
    yield thread, url
    thread.stop()


def _request(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SANDBOX_API_KEY}\r\n\r\n"
    ).encode()


def _first_read(sock: socket.socket, path: str) -> bytes:
    """What the first ``recv`` after sending a request returns (it blocks for the first
    segment and takes only what has arrived)."""
    sock.sendall(_request(path))
    return sock.recv(1 << 20)


def test_accepted_connections_have_tcp_nodelay(served):
    thread, url = served
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        _first_read(sock, f"{url.path}/process-templates")
        connections = list(thread.server.server_state.connections)
        assert len(connections) == 1
        accepted = connections[0].transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_whole_answer_arrives_in_the_first_read_of_a_kept_alive_connection(served):
    _thread, url = served
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        for _ in range(20):
            data = _first_read(sock, f"{url.path}/process-templates")
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            # Written apart, the body comes in a second segment the first read misses.
            assert len(body) == length > 0
