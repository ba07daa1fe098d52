"""A local HTTP server standing in for Slack's incoming-webhook endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackStandIn:
    """Records every JSON body posted to it; answers with scripted statuses (200 when none)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []  # the bodies answered with 200
        self.statuses: list[int] = []  # consumed per request
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with stand_in.lock:
                    stand_in.bodies.append(body)
                    status = stand_in.statuses.pop(0) if stand_in.statuses else 200
                    if status == 200:
                        stand_in.delivered.append(body)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/s3cr3t"

    def texts(self) -> list[str]:
        with self.lock:
            return [json.dumps(b) for b in self.bodies]

    def __enter__(self) -> SlackStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
