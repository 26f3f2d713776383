"""A real HTTP server on 127.0.0.1 for a fake network: each network's test app speaks that network's API.

`serve(app)` runs a WSGI app (a small Flask app written from the network's public API docs) in a thread on a free
port and yields its base URL; the real client library is pointed at it.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
