"""The tests' fake WeChat Pay (tests/wxpay_fake.py) served over HTTP on 127.0.0.1, for bench/run's
``pay_wechat`` scenario.

``python bench/wxpay_server.py PORT MERCHANT_KEY.pem WECHAT_KEY.pem``: every ``/v3/…`` request goes to
``FakeWechatPay.handle`` as the adapter's calls do in the tests (it checks our signatures and signs
its answers); ``POST /bench/pay/<out_trade_no>`` marks that WeChat order paid, as a buyer paying in
the mini-program does, and answers the TRANSACTION.SUCCESS notification WeChat Pay would POST to
our notify URL (``{"headers": {…}, "body": "…"}``) for the load driver to deliver.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.wxpay_fake import FakeWechatPay, Keys  # noqa: E402


def _key(path: str) -> Any:
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def serve(port: int, merchant_pem: str, wechat_pem: str) -> None:
    fake = FakeWechatPay(Keys(merchant=_key(merchant_pem), wechat=_key(wechat_pem)))
    lock = threading.Lock()  # the fake keeps plain dicts and lists: one request at a time inside it

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            return None

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "POST" and self.path.startswith("/bench/pay/"):
                trade_no = unquote(self.path.removeprefix("/bench/pay/"))
                with lock:
                    if trade_no not in fake.orders:
                        self._reply(404, {}, b"{}")
                        return
                    headers, raw = fake.pay(trade_no)
                    fake.seen.clear()  # the load runs for a while: keep no history
                    fake.nonces.clear()
                out = json.dumps({"headers": headers, "body": raw.decode()}, ensure_ascii=False).encode()
                self._reply(200, {"content-type": "application/json"}, out)
                return
            request = httpx.Request(
                self.command, f"http://{self.headers.get('host', '127.0.0.1')}{self.path}", headers=dict(self.headers), content=body
            )
            with lock:
                response = fake.handle(request)
            self._reply(response.status_code, dict(response.headers), response.content)

        do_GET = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"fake WeChat Pay on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
