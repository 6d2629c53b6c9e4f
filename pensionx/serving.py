"""Server sockets and uvicorn threads, shared by every HTTP server of the exchange.

Each server's socket is bound before anything serves on it, so a taken port fails at once with
the caller's message, not later in a thread nobody watches; the callers (the web page, the
upload endpoint, the schema registry, health and metrics) wrap the ``OSError`` and the timeout
in their own error saying what to do.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def server_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port; IPv6 when ``host`` has a colon).
    Raises ``OSError`` (closed again) when the port cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server and uvicorn do
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def start_uvicorn(
    app: Any, sock: socket.socket, name: str, timeout: float, **config: Any
) -> tuple[Any, threading.Thread]:
    """Serve ``app`` on the bound ``sock`` in a daemon thread; return (server, thread) once it
    accepts connections. Raises ``TimeoutError`` (the socket closed) if it does not start
    within ``timeout`` seconds."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TimeoutError(f"{name} did not start within {timeout:.0f} s")
        time.sleep(0.02)
    return server, thread
