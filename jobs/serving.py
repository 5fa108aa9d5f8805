"""uvicorn on a socket bound beforehand, in a background thread: what the emulator and the web page
share.

The socket is bound before uvicorn starts, so `--port 0` knows its port at once and a busy port
fails fast with OSError. The caller keeps the uvicorn.Server: `should_exit = True`, then joining the
thread, stops it.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

START_TIMEOUT = 10.0  # seconds for uvicorn to start serving, and for its thread to end


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port); IPv6 when the host has a colon."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_in_thread(server: uvicorn.Server, sock: socket.socket, *, name: str) -> threading.Thread:
    """Start `server` on `sock` in a daemon thread (see wait_started)."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    return thread


def wait_started(server: uvicorn.Server, thread: threading.Thread) -> bool:
    """True once the server accepts connections; False if its thread died or START_TIMEOUT ran
    out first (the caller stops it and says what did not start)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:  # real time is unavoidable here: uvicorn starts in its thread
        if not thread.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
