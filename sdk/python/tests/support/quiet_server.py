"""A threading HTTP server for the fakes: no Nagle delay, no tracebacks for clients that
hang up."""

from __future__ import annotations

import socket
import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # http.server writes the headers and the body separately: without this, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to every answer.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that closed its connection (an abandoned stream, a dead test)
        super().handle_error(request, client_address)
