"""A small local stand-in for the Stripe API, for tests only.

It serves what the payments slice calls, with the real ``stripe`` SDK pointed at it through
``stripe_api_base``: ``POST /v1/payment_intents`` (form-encoded, honouring ``Idempotency-Key``: the
same key returns the same answer), ``GET /v1/payment_intents/{id}``, ``POST /v1/refunds``, and the
lists reconciliation reads, ``GET /v1/payment_intents`` and ``GET /v1/refunds`` (``created[gte]``,
``created[lt]``, ``limit``, ``starting_after``; newest first, as Stripe pages them). Test controls
(``POST /_test/payment_intents/{id}/succeed`` and ``/fail``, or the same methods on the object)
move an intent along as a buyer's card would; ``fail_refund`` and ``refund_outside`` do what a
bank or the Stripe dashboard would. It also builds and signs webhook events.

Every request is recorded in ``requests`` so that tests can assert what was sent.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import stripe

SECRET_KEY = "sk_test_coopmarket_fake"
WEBHOOK_SECRET = "whsec_coopmarket_fake"


@dataclass(frozen=True)
class SeenRequest:
    """One call the fake received."""

    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, Any]


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``metadata[order_id]=x``, ``a[b][c]=y``) into nested dicts."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, *rest = re.findall(r"[^\[\]]+", key)
        target = result
        for name in [head, *rest][:-1]:
            target = target.setdefault(name, {})
        target[([head, *rest])[-1]] = value
    return result


@dataclass
class FakeStripe:
    """The fake's state, guarded by one lock (the server answers from several threads)."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    refund_status: str = "succeeded"  # what a new refund answers with
    refuse_refunds: str | None = None  # an error code every new refund is refused with (for good)
    clock: Any = field(default=time.time)  # seconds since the epoch, for ``created``
    _idempotent: dict[str, tuple[str, dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeStripe:
        """Serve on 127.0.0.1 on a free port, in a daemon thread."""
        fake = self

        class Handler(_Handler):
            stripe_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-stripe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        with self._lock:
            self.intents.clear()
            self.refunds.clear()
            self.requests.clear()
            self._idempotent.clear()
            self.refund_status = "succeeded"
            self.refuse_refunds = None
            self.clock = time.time

    # ------------------------------------------------------------ what tests look at

    def seen(self, method: str, path: str) -> list[SeenRequest]:
        """The recorded requests to ``method path`` (exact path)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def succeed(self, intent_id: str, *, amount_received: int | None = None) -> dict[str, Any]:
        """The buyer paid: the intent is ``succeeded`` (with its full amount unless told)."""
        with self._lock:
            return json.loads(json.dumps(self._succeed(intent_id, amount_received)))

    def fail(self, intent_id: str) -> dict[str, Any]:
        """The card was declined: Stripe puts the intent back to ``requires_payment_method``."""
        with self._lock:
            return json.loads(json.dumps(self._fail(intent_id)))

    def _succeed(self, intent_id: str, amount_received: int | None = None) -> dict[str, Any]:
        intent = self.intents[intent_id]
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"] if amount_received is None else amount_received
        intent["next_action"] = None
        intent["latest_charge"] = f"ch_{intent_id[3:]}"
        return intent

    def _fail(self, intent_id: str) -> dict[str, Any]:
        intent = self.intents[intent_id]
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
        return intent

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        """The card's bank sent the refund back: Stripe marks it ``failed`` (after it was pending or succeeded)."""
        with self._lock:
            refund = self.refunds[refund_id]
            refund["status"] = "failed"
            refund["failure_reason"] = reason
            return json.loads(json.dumps(refund))

    def refund_outside(self, intent_id: str, amount: int) -> dict[str, Any]:
        """Someone refunded from the Stripe dashboard: a refund without our metadata."""
        with self._lock:
            status, refund = self._create_refund({"payment_intent": intent_id, "amount": str(amount)})
            assert status == 200, refund
            return json.loads(json.dumps(refund))

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
        """A webhook event body as Stripe sends it."""
        with self._lock:
            n = next(self._ids)
        body = {
            "id": event_id or f"evt_fake_{n:06d}",
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }
        return json.dumps(body).encode()

    @staticmethod
    def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
        """The ``Stripe-Signature`` header for ``payload`` (now, unless ``timestamp`` is given)."""
        header: str = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret, timestamp=timestamp
        )
        return header

    # ------------------------------------------------------------ the API

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any]]:
        params = decode_form(body) if body else {}
        key = headers.get("idempotency-key")
        with self._lock:
            self.requests.append(SeenRequest(method, path, key, params))
            if path.startswith("/_test/"):
                return self._control(method, path)
            if not headers.get("authorization", "").startswith("Bearer sk_test_"):
                return 401, _error("invalid_request_error", "Invalid API Key provided.")
            if method == "POST" and key is not None and key in self._idempotent:
                first_path, first_params, status, answer = self._idempotent[key]
                if (first_path, first_params) != (path, params):
                    return 400, _error(
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters.",
                    )
                return status, answer
            status, answer = self._route(method, path, params)
            if method == "POST" and key is not None:
                self._idempotent[key] = (path, params, status, answer)
            return status, json.loads(json.dumps(answer))

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(params)
        match = re.fullmatch(r"/v1/payment_intents/([A-Za-z0-9_]+)", path)
        if method == "GET" and match:
            intent = self.intents.get(match.group(1))
            if intent is None:
                return 404, _error(
                    "invalid_request_error", "No such payment_intent.", code="resource_missing"
                )
            return 200, intent
        if method == "POST" and path == "/v1/refunds":
            if self.refuse_refunds is not None:
                return 400, _error(
                    "invalid_request_error", "This refund cannot be made.", code=self.refuse_refunds
                )
            return self._create_refund(params)
        if method == "GET" and path == "/v1/payment_intents":
            return self._list(path, self.intents, params)
        if method == "GET" and path == "/v1/refunds":
            return self._list(path, self.refunds, params)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _list(
        self, path: str, objects: dict[str, dict[str, Any]], params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A Stripe list page: newest first, ``created`` filters, ``limit`` (1..100), ``starting_after``."""
        created = params.get("created") or {}
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            return 400, _error("invalid_request_error", "Invalid limit.", param="limit")
        found = [
            o
            for o in objects.values()
            if ("gte" not in created or o["created"] >= int(created["gte"]))
            and ("lt" not in created or o["created"] < int(created["lt"]))
        ]
        # Newest first; ids grow with time here, so they break ties as Stripe's do.
        found.sort(key=lambda o: (o["created"], o["id"]), reverse=True)
        after = params.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        page = found[:limit]
        return 200, {"object": "list", "url": path, "has_more": len(found) > limit, "data": page}

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            return 400, _error("invalid_request_error", "Missing required param: amount.", param="amount")
        if "currency" not in params:
            return 400, _error("invalid_request_error", "Missing required param: currency.", param="currency")
        n = next(self._ids)
        intent_id = f"pi_fake{n:08d}"
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": params["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_fake{n}",
            "metadata": params.get("metadata", {}),
            "next_action": None,
            "latest_charge": None,
            "livemode": False,
            "created": int(self.clock()),
        }
        self.intents[intent_id] = intent
        return 200, intent

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            return 400, _error("invalid_request_error", "No such payment_intent.", code="resource_missing")
        if intent["status"] != "succeeded":
            return 400, _error("invalid_request_error", "This PaymentIntent has not succeeded.")
        already = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent["id"] and r["status"] != "failed"
        )
        amount = int(params.get("amount", intent["amount_received"] - already))
        if amount <= 0 or already + amount > intent["amount_received"]:
            return 400, _error(
                "invalid_request_error",
                "Refund amount is greater than the unrefunded amount.",
                code="amount_too_large",
            )
        n = next(self._ids)
        refund = {
            "id": f"re_fake{n:08d}",
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "status": self.refund_status,
            "metadata": params.get("metadata", {}),
            "failure_reason": None,
            "created": int(self.clock()),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def _control(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/_test/payment_intents/([A-Za-z0-9_]+)/(succeed|fail)", path)
        if method != "POST" or match is None or match.group(1) not in self.intents:
            return 404, _error("invalid_request_error", "No such test control.")
        if match.group(2) == "succeed":
            return 200, self._succeed(match.group(1))
        return 200, self._fail(match.group(1))


def _error(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stripe_fake: FakeStripe

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path, _, query = self.path.partition("?")
        if self.command == "GET" and query:
            body = query  # the SDK sends a GET's parameters in the query string, form-encoded
        status, answer = self.stripe_fake.handle(self.command, path, headers, body)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_fake_{id(answer)}")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not the place for access logs."""
