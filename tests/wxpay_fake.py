"""A local fake WeChat Pay API v3 for tests: it checks OUR signatures and signs its answers.

``FakeWechatPay.handle`` is a plain ``httpx.Request -> httpx.Response`` handler, put behind the
adapter with ``httpx.MockTransport`` (``Overrides.wechat_pay_transport``); the production adapter
is unchanged. It checks the ``Authorization`` schema, mchid, merchant serial, 5-minute window,
nonce replay and the RSA signature over the raw path+query and the exact body bytes; it answers
signed with its own "WeChat Pay" key under a ``PUB_KEY_ID_…`` serial, with WeChat's error codes.
``pay`` and ``refund_notification`` build the exact headers and body WeChat would POST to our
notify URL: signed and AES-256-GCM encrypted (or a probe).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coopmarket.core import clock
from coopmarket.payments.wechat_provider import (
    request_message,
    response_message,
    rsa_sign,
    rsa_verify,
)

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
API_V3_KEY = "0123456789abcdef0123456789ABCDEF"  # 32 bytes
NOTIFY_URL = "https://shop.example.cn/api/v1/payments/wechat/notify"
_AUTH = re.compile(r'^WECHATPAY2-SHA256-RSA2048 (.+)$')


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass
class Keys:
    merchant: rsa.RSAPrivateKey  # ours (the fake knows its public half)
    wechat: rsa.RSAPrivateKey  # WeChat Pay's (we know its public half)

    def settings(self) -> dict[str, Any]:
        """The app's settings for WeChat Pay against this fake."""
        return {
            "wechat_pay_mchid": MCHID,
            "wechat_pay_appid": APPID,
            "wechat_pay_api_v3_key": API_V3_KEY,
            "wechat_pay_private_key": private_pem(self.merchant),
            "wechat_pay_merchant_serial": MERCHANT_SERIAL,
            "wechat_pay_public_key": public_pem(self.wechat),
            "wechat_pay_public_key_id": PUBLIC_KEY_ID,
            "wechat_pay_api_base": "https://api.mch.weixin.qq.com",
            "wechat_pay_notify_url": NOTIFY_URL,
        }


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class FakeWechatPay:
    keys: Keys
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    rejected: list[str] = field(default_factory=list)  # why requests were refused
    # What a refund answers at once: PROCESSING (the usual), SUCCESS, or an error code.
    refund_answer: str = "PROCESSING"
    down: bool = False
    # Partner mode: profit-sharing orders and returns by their numbers, and each sub-merchant's
    # authorised ratio (basis points; WeChat's merchant-configs max_ratio).
    sharing: dict[str, dict[str, Any]] = field(default_factory=dict)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_ratio_bps: dict[str, int] = field(default_factory=dict)

    def calls(self, method: str, path_prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path_prefix)]

    # ------------------------------------------------------------ answering

    def _answer(self, status: int, body: Any = None) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = self.signed_headers(raw)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return httpx.Response(status, content=raw, headers=headers)

    def _error(self, status: int, code: str, message: str) -> httpx.Response:
        return self._answer(status, {"code": code, "message": message})

    def signed_headers(self, raw: bytes, *, timestamp: int | None = None, probe: bool = False) -> dict[str, str]:
        ts = str(int(clock.now().timestamp()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        signature = rsa_sign(self.keys.wechat, response_message(ts, nonce, raw))
        if probe:
            signature = "WECHATPAY/SIGNTEST/" + signature[19:]
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def _check_signature(self, request: httpx.Request) -> str | None:
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return "schema"
        fields = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if fields.get("mchid") != MCHID:
            return "mchid"
        if fields.get("serial_no") != MERCHANT_SERIAL:
            return "serial"
        try:
            ts = int(fields.get("timestamp", ""))
        except ValueError:
            return "timestamp"
        if abs(clock.now().timestamp() - ts) > 300:
            return "stale"
        nonce = fields.get("nonce_str", "")
        if not nonce or nonce in self.nonces:
            return "nonce replay"
        target = request.url.raw_path.decode()
        message = request_message(request.method, target, fields["timestamp"], nonce, request.content)
        if not rsa_verify(self.keys.merchant.public_key(), message, fields.get("signature", "")):
            return "signature"
        self.nonces.add(nonce)
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("fake WeChat Pay is down", request=request)
        problem = self._check_signature(request)
        if problem is not None:
            self.rejected.append(problem)
            return self._error(401, "SIGN_ERROR", f"signature check failed: {problem}")
        path = request.url.path
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        body = json.loads(request.content) if request.content else None
        self.seen.append(Seen(request.method, path, query, body))
        if request.method == "POST" and path == "/v3/pay/transactions/jsapi":
            return self._jsapi(body)
        if request.method == "POST" and path == "/v3/pay/partner/transactions/jsapi":
            return self._partner_jsapi(body)
        if request.method == "POST" and path == "/v3/profitsharing/orders":
            return self._share(body)
        if request.method == "POST" and path == "/v3/profitsharing/return-orders":
            return self._return(body)
        m = re.fullmatch(r"/v3/pay/(?:partner/)?transactions/out-trade-no/([^/]+)(/close)?", path)
        if m:
            order = self.orders.get(unquote(m.group(1)))
            if m.group(2):
                if order is None:
                    return self._error(404, "ORDER_NOT_EXIST", "no such order")
                if order["trade_state"] == "SUCCESS":
                    return self._error(400, "ORDERPAID", "paid already")
                order["trade_state"] = "CLOSED"
                return self._answer(204)
            if MCHID not in (query.get("mchid"), query.get("sp_mchid")):
                return self._error(400, "PARAM_ERROR", "mchid")
            if order is None:
                return self._error(404, "ORDER_NOT_EXIST", "no such order")
            return self._answer(200, self._transaction(order))
        if request.method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._refund(body)
        m = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if m:
            refund = self.refunds.get(unquote(m.group(1)))
            if refund is None:
                return self._error(404, "RESOURCE_NOT_EXISTS", "no such refund")
            return self._answer(200, refund)
        return self._error(404, "NOT_FOUND", path)

    def _jsapi(self, body: dict[str, Any]) -> httpx.Response:
        for name in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer"):
            if name not in body:
                return self._error(400, "PARAM_ERROR", f"missing {name}")
        if body["appid"] != APPID or body["mchid"] != MCHID:
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid and mchid")
        no = body["out_trade_no"]
        if not re.fullmatch(r"[0-9A-Za-z_\-|*]{6,32}", no):
            return self._error(400, "PARAM_ERROR", "out_trade_no")
        order = self.orders.get(no)
        if order is not None:
            if order["trade_state"] == "SUCCESS":
                return self._error(400, "ORDERPAID", "paid already")
            if order["trade_state"] == "CLOSED":
                return self._error(400, "ORDER_CLOSED", "closed")
            if order["request"]["amount"] != body["amount"]:
                return self._error(400, "OUT_TRADE_NO_USED", "same number, other order")
        else:
            order = {"request": body, "trade_state": "NOTPAY", "transaction_id": None}
            self.orders[no] = order
        return self._answer(200, {"prepay_id": "wx" + secrets.token_hex(15)})

    def _partner_jsapi(self, body: dict[str, Any]) -> httpx.Response:
        for name in ("sp_appid", "sp_mchid", "sub_mchid", "out_trade_no", "amount", "payer"):
            if name not in body:
                return self._error(400, "PARAM_ERROR", f"missing {name}")
        if body["sp_mchid"] != MCHID:
            return self._error(400, "PARAM_ERROR", "sp_mchid")
        flat = {**body, "appid": body["sp_appid"], "mchid": body["sp_mchid"]}
        self.orders.setdefault(body["out_trade_no"], {"request": flat, "trade_state": "NOTPAY", "transaction_id": None})
        return self._answer(200, {"prepay_id": "wx" + secrets.token_hex(15)})

    def _share(self, body: dict[str, Any]) -> httpx.Response:
        no = body["out_order_no"]
        if no in self.sharing:
            return self._answer(200, self.sharing[no])
        order = next((o for o in self.orders.values() if o["transaction_id"] == body["transaction_id"]), None)
        if order is None or order["trade_state"] != "SUCCESS":
            return self._error(404, "RESOURCE_NOT_EXISTS", "no paid order")
        if not order["request"].get("settle_info", {}).get("profit_sharing"):
            return self._error(400, "INVALID_REQUEST", "非分账订单不支持分账")
        if order["request"].get("sub_mchid") != body["sub_mchid"]:
            return self._error(400, "PARAM_ERROR", "sub_mchid")
        receivers = body["receivers"]
        if not 0 < len(receivers) <= 50:
            return self._error(400, "PARAM_ERROR", "receivers")
        total = order["request"]["amount"]["total"]
        cap = total * self.max_ratio_bps.get(body["sub_mchid"], 3000) // 10000
        if sum(r["amount"] for r in receivers) > cap:
            return self._error(400, "INVALID_REQUEST", "超过最大分账比例")
        answer = {
            "sub_mchid": body["sub_mchid"],
            "transaction_id": body["transaction_id"],
            "out_order_no": no,
            "order_id": "30" + secrets.token_hex(14),
            "state": "FINISHED",
            "receivers": [{**r, "result": "SUCCESS"} for r in receivers],
        }
        self.sharing[no] = answer
        return self._answer(200, answer)

    def _return(self, body: dict[str, Any]) -> httpx.Response:
        no = body["out_return_no"]
        if no in self.returns:
            return self._answer(200, self.returns[no])
        shared = self.sharing.get(body["out_order_no"])
        if shared is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "no such profit sharing")
        got = sum(r["amount"] for r in shared["receivers"] if r["account"] == body["return_mchid"])
        back = sum(r["amount"] for r in self.returns.values()
                   if r["out_order_no"] == body["out_order_no"] and r["return_mchid"] == body["return_mchid"])
        if back + body["amount"] > got:
            return self._error(400, "NOT_ENOUGH", "more than shared")
        answer = {**body, "return_id": "40" + secrets.token_hex(14), "result": "SUCCESS"}
        self.returns[no] = answer
        return self._answer(200, answer)

    def _transaction(self, order: dict[str, Any]) -> dict[str, Any]:
        request = order["request"]
        paid = order.get("paid_amount", request["amount"]["total"])
        return {
            "appid": request["appid"],
            "mchid": request["mchid"],
            "out_trade_no": request["out_trade_no"],
            "transaction_id": order["transaction_id"],
            "trade_type": "JSAPI",
            "trade_state": order["trade_state"],
            "trade_state_desc": order["trade_state"],
            "attach": request.get("attach"),
            "success_time": order.get("success_time"),
            "payer": {"openid": request["payer"].get("openid")},
            "amount": {
                "total": paid,
                "payer_total": paid,
                "currency": order.get("currency", "CNY"),
                "payer_currency": "CNY",
            },
        }

    def _refund(self, body: dict[str, Any]) -> httpx.Response:
        no = body["out_refund_no"]
        if no in self.refunds:
            return self._answer(200, self.refunds[no])
        order = self.orders.get(body.get("out_trade_no", ""))
        if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "no paid order")
        if self.refund_answer not in ("PROCESSING", "SUCCESS"):
            return self._error(403, self.refund_answer, "refused")
        refunded = sum(r["amount"]["refund"] for r in self.refunds.values() if r["out_trade_no"] == body["out_trade_no"])
        if refunded + body["amount"]["refund"] > order["request"]["amount"]["total"]:
            return self._error(403, "NOT_ENOUGH", "more than paid")
        refund = {
            "refund_id": "50" + secrets.token_hex(14),
            "out_refund_no": no,
            "transaction_id": order["transaction_id"],
            "out_trade_no": body["out_trade_no"],
            "channel": "ORIGINAL",
            "status": self.refund_answer,
            "create_time": clock.now().isoformat(),
            "amount": {
                "total": body["amount"]["total"],
                "refund": body["amount"]["refund"],
                "payer_total": body["amount"]["total"],
                "payer_refund": body["amount"]["refund"],
                "currency": "CNY",
            },
        }
        self.refunds[no] = refund
        order["trade_state"] = "REFUND"
        return self._answer(200, refund)

    # ------------------------------------------------------------ notifications

    def _notification(
        self, event_type: str, resource: dict[str, Any], *, timestamp: int | None, probe: bool, event_id: str | None
    ) -> tuple[dict[str, str], bytes]:
        nonce = secrets.token_hex(6)  # 12 characters: the GCM IV
        aad = "transaction" if event_type.startswith("TRANSACTION") else "refund"
        plain = json.dumps(resource, ensure_ascii=False).encode()
        ciphertext = AESGCM(API_V3_KEY.encode()).encrypt(nonce.encode(), plain, aad.encode())
        envelope = {
            "id": event_id or str(uuid.uuid4()),
            "create_time": clock.now().isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if aad == "transaction" else "退款状态变更",
            "resource": {
                "original_type": aad,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": aad,
                "nonce": nonce,
            },
        }
        raw = json.dumps(envelope, ensure_ascii=False).encode()
        headers = self.signed_headers(raw, timestamp=timestamp, probe=probe)
        headers["Content-Type"] = "application/json"
        return headers, raw

    def pay(
        self,
        out_trade_no: str,
        *,
        amount: int | None = None,
        currency: str = "CNY",
        timestamp: int | None = None,
        probe: bool = False,
        event_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The buyer pays: the order turns SUCCESS; returns the TRANSACTION.SUCCESS notification."""
        order = self.orders[out_trade_no]
        order["trade_state"] = "SUCCESS"
        order["transaction_id"] = order["transaction_id"] or "42" + secrets.token_hex(13)
        order["success_time"] = clock.now().isoformat()
        if amount is not None:
            order["paid_amount"] = amount
        order["currency"] = currency
        return self._notification(
            "TRANSACTION.SUCCESS", self._transaction(order), timestamp=timestamp, probe=probe, event_id=event_id
        )

    def refund_notification(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[dict[str, str], bytes]:
        """WeChat Pay finishes a refund (SUCCESS, CLOSED or ABNORMAL) and notifies."""
        refund = self.refunds[out_refund_no]
        refund["status"] = status
        resource = {
            "mchid": MCHID,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "success_time": clock.now().isoformat(),
            "amount": {
                "total": refund["amount"]["total"],
                "refund": refund["amount"]["refund"],
                "payer_total": refund["amount"]["total"],
                "payer_refund": refund["amount"]["refund"],
            },
        }
        return self._notification(f"REFUND.{status}", resource, timestamp=None, probe=False, event_id=None)
