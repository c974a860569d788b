"""An HTTP proxy on 127.0.0.1 that forwards to a real server (moto's S3, the fake Stripe) and can be
told to fail: answer every request with a 503 as an overloaded store does, or hold each request for
a while before forwarding it, as a slow upstream does."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
_S3_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FlakyProxy:
    """``url`` forwards to ``target``; set ``failing`` (503s) or ``delay_seconds`` (slow answers)."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.failing = False
        self.delay_seconds = 0.0
        self.requests = 0
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests += 1
                if proxy.failing:
                    proxy.failed += 1
                    self.send_response(503)
                    self.send_header("content-type", "application/xml")
                    self.send_header("content-length", str(len(_S3_SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(_S3_SLOW_DOWN)
                    return
                if proxy.delay_seconds:
                    time.sleep(proxy.delay_seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["host"] = self.headers.get("host", "")
                with httpx.Client(timeout=60) as client:
                    answer = client.request(
                        self.command, proxy.target + self.path, content=body, headers=headers
                    )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP_BY_HOP | {"content-length", "content-encoding"}:
                        self.send_header(name, value)
                if self.command == "HEAD":  # the length of what a GET would answer, and no body
                    self.send_header("content-length", answer.headers.get("content-length", "0"))
                    self.end_headers()
                    return
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FlakyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
