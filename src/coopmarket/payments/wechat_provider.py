"""The WeChat Pay API v3 adapter (JSAPI, for the mini-program): a thin client of our own on httpx.

Protocol facts (see ``docs/WXPAY.md`` in the shared docs):

- Every request is signed with the merchant's RSA key (SHA256withRSA) over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``, where BODY is *exactly the bytes sent*
  (we serialise once and send those bytes with ``content=``; never ``json=``), and carried in
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,timestamp=…,serial_no=…``.
- Every answer and every notification is verified with the WeChat Pay public key (its id in
  ``Wechatpay-Serial``) over ``TIMESTAMP\\nNONCE\\nRAW_BODY\\n``, and refused when the timestamp is
  more than 5 minutes away from our clock. A probe (``WECHATPAY/SIGNTEST/…``) simply fails.
- Notifications carry their resource encrypted with AES-256-GCM under the APIv3 key.

``out_trade_no`` is derived from the order and the amount (``out_trade_no``): asking again
resumes the same WeChat order (WeChat answers a fresh ``prepay_id`` for it). ``out_refund_no`` is
our refund's id, so sending a refund twice refunds once.

I/O and translation only: answers become ``providers`` values; nothing here touches a session.
The ``httpx.AsyncClient`` is built once per app (``open_wechat_pay``, from the lifespan) and
closed at shut-down; ``transport`` lets tests put a fake WeChat Pay behind it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coopmarket.core import clock
from coopmarket.payments.errors import (
    InvalidPayload,
    InvalidSignature,
    ProviderUnavailable,
    RefundRefused,
    WechatOpenidMissing,
)
from coopmarket.payments.profit_sharing import ProfitReturn, ProfitShareOrder, ProfitShareSent
from coopmarket.payments.providers import (
    WECHAT_PAY,
    Change,
    ListedPayment,
    ListedRefund,
    PaymentStatus,
    PaymentStatusChanged,
    PaymentSucceeded,
    ProviderEvent,
    RefundOrder,
    RefundSent,
    RefundState,
    RefundUpdated,
    Started,
    StartRequest,
    Window,
)
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
TIME_WINDOW_SECONDS = 300
CURRENCY = "CNY"
CHINA = timezone(timedelta(hours=8))
DESCRIPTION_MAX = 127
REASON_MAX_BYTES = 80

# trade_state of a queried order as our payment's status.
_TRADE_STATE = {
    "SUCCESS": PaymentStatus.SUCCEEDED,
    "REFUND": PaymentStatus.SUCCEEDED,  # paid, then (partly) refunded: the money arrived
    "NOTPAY": PaymentStatus.REQUIRES_PAYMENT,
    "USERPAYING": PaymentStatus.PROCESSING,
    "CLOSED": PaymentStatus.CANCELED,
    "REVOKED": PaymentStatus.CANCELED,
    "PAYERROR": PaymentStatus.FAILED,
}
# refund ``status`` as ours; ABNORMAL is not final (the money is held until the merchant acts).
_REFUND_STATE = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PENDING,
    "ABNORMAL": RefundState.PENDING,
    "CLOSED": RefundState.FAILED,
}
# Error codes of a refund that will never succeed as asked (others are retried later).
_REFUND_REFUSALS = frozenset(
    {"INVALID_REQUEST", "PARAM_ERROR", "NOT_ENOUGH", "USER_ACCOUNT_ABNORMAL", "RESOURCE_NOT_EXISTS", "NO_AUTH"}
)


@dataclass(frozen=True)
class WechatPayConfig:
    """What the adapter needs, read from settings (``from_settings``)."""

    mchid: str
    appid: str
    api_v3_key: bytes
    private_key: rsa.RSAPrivateKey
    merchant_serial: str
    public_key: rsa.RSAPublicKey
    public_key_id: str
    api_base: str
    notify_url: str
    timeout_seconds: float = 10.0
    partner_mode: bool = False
    sub_mchid: str | None = None
    sub_appid: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WechatPayConfig:
        missing = [
            name
            for name, value in (
                ("wechat_pay_mchid", settings.wechat_pay_mchid),
                ("wechat_pay_appid", settings.wechat_pay_appid or settings.wechat_appid),
                ("wechat_pay_api_v3_key", settings.wechat_pay_api_v3_key),
                ("wechat_pay_merchant_serial", settings.wechat_pay_merchant_serial),
                ("wechat_pay_public_key_id", settings.wechat_pay_public_key_id),
                ("wechat_pay_notify_url", settings.wechat_pay_notify_url),
            )
            if not value
        ]
        if missing:
            raise ProviderUnavailable(f"WeChat Pay is not configured on this server ({', '.join(missing)}).")
        private_pem = _pem(settings.wechat_pay_private_key, settings.wechat_pay_private_key_path)
        public_pem = _pem(settings.wechat_pay_public_key, settings.wechat_pay_public_key_path)
        if private_pem is None or public_pem is None:
            raise ProviderUnavailable("WeChat Pay needs the merchant private key and the WeChat Pay public key.")
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        public_key = serialization.load_pem_public_key(public_pem)
        if not isinstance(private_key, rsa.RSAPrivateKey) or not isinstance(public_key, rsa.RSAPublicKey):
            raise ProviderUnavailable("WeChat Pay keys must be RSA keys.")
        assert settings.wechat_pay_api_v3_key is not None  # checked above
        api_v3_key = settings.wechat_pay_api_v3_key.get_secret_value().encode()
        if len(api_v3_key) != 32:
            raise ProviderUnavailable("The WeChat Pay APIv3 key must be 32 bytes.")
        return cls(
            mchid=str(settings.wechat_pay_mchid),
            appid=str(settings.wechat_pay_appid or settings.wechat_appid),
            api_v3_key=api_v3_key,
            private_key=private_key,
            merchant_serial=str(settings.wechat_pay_merchant_serial),
            public_key=public_key,
            public_key_id=str(settings.wechat_pay_public_key_id),
            api_base=settings.wechat_pay_api_base.rstrip("/"),
            notify_url=str(settings.wechat_pay_notify_url),
            timeout_seconds=settings.wechat_pay_timeout_seconds,
            partner_mode=settings.wechat_pay_partner_mode,
            sub_mchid=settings.wechat_pay_sub_mchid,
            sub_appid=settings.wechat_pay_sub_appid,
        )


def _pem(inline: Any, path: str | None) -> bytes | None:
    if inline is not None:
        value = inline.get_secret_value() if hasattr(inline, "get_secret_value") else str(inline)
        return value.encode()
    if path:
        return Path(path).read_bytes()
    return None


# ---------------------------------------------------------------- signing and verifying


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5), as every WeChat Pay v3 signature."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (CryptoInvalidSignature, ValueError):
        return False
    return True


def request_message(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What a request's signature covers: ``target`` is the path with its ``?query``, no host."""
    return f"{method}\n{target}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What an answer's or a notification's signature covers (the raw body; empty for a 204)."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def pay_sign_message(appid: str, timestamp: str, nonce: str, package: str) -> bytes:
    """What ``wx.requestPayment``'s ``paySign`` covers: every line ends in ``\\n``."""
    return f"{appid}\n{timestamp}\n{nonce}\n{package}\n".encode()


def decrypt_resource(api_v3_key: bytes, resource: Mapping[str, Any]) -> bytes:
    """AES-256-GCM: key the APIv3 key, IV the nonce's bytes, AAD ``associated_data``, tag at the end."""
    try:
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        nonce = str(resource["nonce"]).encode()
        aad = resource.get("associated_data")
        return AESGCM(api_v3_key).decrypt(nonce, ciphertext, None if aad is None else str(aad).encode())
    except (KeyError, ValueError, InvalidTag) as exc:
        raise InvalidPayload("The notification's resource cannot be decrypted.") from exc


def out_trade_no(order_id: str, amount_fen: int) -> str:
    """The one WeChat order number of ``order_id`` for ``amount_fen`` (32 characters at most).

    The amount is part of it: when a part is cancelled before payment the total drops, and the
    buyer pays the new total under a new number.
    """
    digest = hashlib.sha256(f"{order_id}:{amount_fen}".encode()).hexdigest()[:5]
    return f"{order_id}-{digest}"[:32]


def rfc3339_china(moment: datetime) -> str:
    """``2026-12-03T20:30:00+08:00``: WeChat's ``time_expire`` format (whole seconds)."""
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _time(value: Any) -> datetime:
    if not value:
        return clock.now()
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return clock.now()


class WechatPayError(Exception):
    """WeChat Pay answered an error: its HTTP status and ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


@contextlib.asynccontextmanager
async def open_wechat_pay(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[WechatPayProvider]:
    """The app's WeChat Pay provider with its HTTP client, closed on exit (``transport``: tests)."""
    config = WechatPayConfig.from_settings(settings)
    async with httpx.AsyncClient(
        base_url=config.api_base, timeout=config.timeout_seconds, transport=transport
    ) as client:
        yield WechatPayProvider(config, client)


class WechatPayProvider:
    """WeChat Pay v3 JSAPI payments, refunds, notifications, queries and closing."""

    name = WECHAT_PAY
    sends_refunds = True
    # WeChat Pay cannot list payments by time (only download bills): reconciliation of it is
    # done by querying each payment of ours still pending (``query_payment``), not by listing.
    keeps_records = False
    can_query = True

    def __init__(self, config: WechatPayConfig, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client

    @property
    def config(self) -> WechatPayConfig:
        return self._config

    # ------------------------------------------------------------ HTTP

    def _authorization(self, method: str, target: str, body: bytes) -> str:
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        signature = rsa_sign(self._config.private_key, request_message(method, target, timestamp, nonce, body))
        return (
            f'{SCHEMA} mchid="{self._config.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self._config.merchant_serial}"'
        )

    async def _call(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """Sign, send and verify one call; returns ``(status, JSON or None)`` of a success.

        ``WechatPayError`` for an error answer (verified), ``ProviderUnavailable`` when WeChat
        cannot be reached or its answer cannot be verified.
        """
        target = path + (f"?{urlencode(query)}" if query else "")
        # Serialised once: the signature covers exactly these bytes, and these bytes are sent.
        content = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Authorization": self._authorization(method, target, content),
            "Accept": "application/json",
            "User-Agent": "coopmarket",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(method, target, content=content, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("WeChat Pay %s %s failed: %s", method, path, type(exc).__name__)
            raise ProviderUnavailable("WeChat Pay did not answer; try again shortly.") from exc
        raw = response.content
        if not self.verify(raw, response.headers):
            log.error("WeChat Pay answer to %s %s (%s) failed verification", method, path, response.status_code)
            raise ProviderUnavailable("WeChat Pay's answer could not be verified; try again shortly.")
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise ProviderUnavailable("WeChat Pay answered something that is not JSON.") from exc
        if response.status_code >= 400:
            code = str((data or {}).get("code", "UNKNOWN")) if isinstance(data, dict) else "UNKNOWN"
            message = str((data or {}).get("message", "")) if isinstance(data, dict) else ""
            raise WechatPayError(response.status_code, code, message)
        return response.status_code, data

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether ``body`` carries a valid, recent signature of WeChat Pay's key.

        A probe (``WECHATPAY/SIGNTEST/…``) fails here like any other wrong signature.
        """
        timestamp = _header(headers, "Wechatpay-Timestamp")
        nonce = _header(headers, "Wechatpay-Nonce")
        signature = _header(headers, "Wechatpay-Signature")
        serial = _header(headers, "Wechatpay-Serial")
        if not timestamp or not nonce or not signature or serial != self._config.public_key_id:
            return False
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        if abs(clock.now().timestamp() - sent) > TIME_WINDOW_SECONDS:
            return False
        return rsa_verify(self._config.public_key, response_message(timestamp, nonce, body), signature)

    # ------------------------------------------------------------ the provider interface

    def _order_ids(self, sub_merchant: str | None = None) -> dict[str, str]:
        if self._config.partner_mode:
            ids = {"sp_appid": self._config.appid, "sp_mchid": self._config.mchid}
            if sub_merchant or self._config.sub_mchid:
                ids["sub_mchid"] = str(sub_merchant or self._config.sub_mchid)
            if self._config.sub_appid:
                ids["sub_appid"] = self._config.sub_appid
            return ids
        return {"appid": self._config.appid, "mchid": self._config.mchid}

    def _mch_query(self) -> dict[str, str]:
        if self._config.partner_mode:
            query = {"sp_mchid": self._config.mchid}
            if self._config.sub_mchid:
                query["sub_mchid"] = self._config.sub_mchid
            return query
        return {"mchid": self._config.mchid}

    async def start(self, request: StartRequest) -> Started:
        """Place (or place again: same ``out_trade_no``) the JSAPI order; answer ``wx.requestPayment``'s parameters.

        An order WeChat says is paid already (``ORDERPAID``) is queried and answered ``succeeded``.
        """
        if not request.payer_openid:
            raise WechatOpenidMissing(
                "Paying with WeChat Pay needs a WeChat sign-in: sign in through the mini-program first."
            )
        trade_no = out_trade_no(request.order_id, request.amount_fen)
        partner = self._config.partner_mode
        body: dict[str, Any] = {
            **self._order_ids(request.sub_merchant),
            "description": (request.description or f"Order {request.order_id}")[:DESCRIPTION_MAX],
            "out_trade_no": trade_no,
            "time_expire": rfc3339_china(request.pay_before),
            "attach": request.order_id,
            "notify_url": self._config.notify_url,
            "amount": {"total": request.amount_fen, "currency": CURRENCY},
            "payer": {"sp_openid" if partner else "openid": request.payer_openid},
        }
        if partner:
            body["settle_info"] = {"profit_sharing": True}
        path = "/v3/pay/partner/transactions/jsapi" if partner else "/v3/pay/transactions/jsapi"
        try:
            _, data = await self._call("POST", path, body=body)
        except WechatPayError as exc:
            if exc.code == "ORDERPAID":
                queried = await self.query_payment(trade_no)
                if queried is not None and queried.status == PaymentStatus.SUCCEEDED:
                    return Started(
                        provider=WECHAT_PAY,
                        provider_ref=trade_no,
                        status=PaymentStatus.SUCCEEDED,
                        amount_fen=request.amount_fen,
                        received_fen=queried.received_fen,
                        client_status="succeeded",
                        client_secret=None,
                        next_action=None,
                    )
            log.warning("WeChat Pay refused order %s: %s", trade_no, exc)
            raise ProviderUnavailable(f"WeChat Pay refused the order ({exc.code}).") from exc
        prepay_id = str((data or {}).get("prepay_id", ""))
        if not prepay_id:
            raise ProviderUnavailable("WeChat Pay answered no prepay_id.")
        return Started(
            provider=WECHAT_PAY,
            provider_ref=trade_no,
            status=PaymentStatus.REQUIRES_PAYMENT,
            amount_fen=request.amount_fen,
            received_fen=0,
            client_status="requires_payment",
            client_secret=None,
            next_action={"type": "wechat_request_payment", "request_payment": self.request_payment(prepay_id)},
        )

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        """``wx.requestPayment``'s parameters for ``prepay_id``, ``paySign`` signed with the merchant key."""
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        appid = self._config.sub_appid if self._config.partner_mode and self._config.sub_appid else self._config.appid
        return {
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": rsa_sign(self._config.private_key, pay_sign_message(appid, timestamp, nonce, package)),
        }

    async def query_payment(self, provider_ref: str) -> ListedPayment | None:
        """The WeChat order ``provider_ref`` (our ``out_trade_no``) as WeChat holds it; None when unknown."""
        path = f"/v3/pay/{'partner/' if self._config.partner_mode else ''}transactions/out-trade-no/{quote(provider_ref, safe='')}"
        try:
            _, data = await self._call("GET", path, query=self._mch_query())
        except WechatPayError as exc:
            if exc.code == "ORDER_NOT_EXIST" or exc.status == 404:
                return None
            raise ProviderUnavailable(f"WeChat Pay could not be queried ({exc.code}).") from exc
        return _listed_payment(data or {})

    async def close_payment(self, provider_ref: str) -> bool:
        """Close the WeChat order ``provider_ref`` so that it can no longer be paid; False when it
        could not be closed (paid already, unknown)."""
        prefix = "partner/" if self._config.partner_mode else ""
        path = f"/v3/pay/{prefix}transactions/out-trade-no/{quote(provider_ref, safe='')}/close"
        try:
            await self._call("POST", path, body=self._mch_query())
        except WechatPayError as exc:
            log.info("WeChat Pay did not close %s: %s", provider_ref, exc)
            return False
        return True

    async def refund(self, request: RefundOrder) -> RefundSent:
        """Refund under ``out_refund_no`` = our refund's id (sending it again refunds once)."""
        reason = (request.reason or "").encode()[:REASON_MAX_BYTES].decode(errors="ignore") or None
        body: dict[str, Any] = {
            "out_trade_no": request.payment_ref,
            "out_refund_no": request.refund_id,
            "notify_url": self._config.notify_url,
            "amount": {"refund": request.amount_fen, "total": request.payment_amount_fen, "currency": CURRENCY},
        }
        if self._config.partner_mode and self._config.sub_mchid:
            body["sub_mchid"] = self._config.sub_mchid
        if reason:
            body["reason"] = reason
        try:
            _, data = await self._call("POST", "/v3/refund/domestic/refunds", body=body)
        except WechatPayError as exc:
            if exc.code in _REFUND_REFUSALS:
                raise RefundRefused(exc.code) from exc
            raise ProviderUnavailable(f"WeChat Pay did not take the refund ({exc.code}).") from exc
        data = data or {}
        return RefundSent(
            str(data.get("refund_id") or request.refund_id),
            _REFUND_STATE.get(str(data.get("status")), RefundState.PENDING),
        )

    async def query_refund(self, refund_id: str) -> ListedRefund | None:
        """Our refund ``refund_id`` (its ``out_refund_no``) as WeChat holds it; None when unknown."""
        query = {"sub_mchid": self._config.sub_mchid} if self._config.partner_mode and self._config.sub_mchid else None
        try:
            _, data = await self._call(
                "GET", f"/v3/refund/domestic/refunds/{quote(refund_id, safe='')}", query=query
            )
        except WechatPayError as exc:
            if exc.code == "RESOURCE_NOT_EXISTS" or exc.status == 404:
                return None
            raise ProviderUnavailable(f"WeChat Pay could not be queried ({exc.code}).") from exc
        return _listed_refund(data or {})

    # ------------------------------------------------------------ profit sharing (partner mode)

    async def share_profit(self, order: ProfitShareOrder) -> ProfitShareSent:
        """Send a settled part's receivers out of its payment, under its ``out_order_no`` (once).

        The payment's ``transaction_id`` comes from a query. ``ProviderUnavailable`` to retry later;
        ``RefundRefused``-like refusals are reported as ``ProviderUnavailable`` too, with WeChat's code.
        """
        paid = await self.query_payment(order.payment_ref)
        if paid is None or paid.transaction_id is None:
            raise ProviderUnavailable(f"WeChat Pay has no paid order {order.payment_ref} to share.")
        body = {
            "sub_mchid": order.sub_mchid,
            "appid": self._config.appid,
            "transaction_id": paid.transaction_id,
            "out_order_no": order.plan.out_order_no,
            "receivers": [
                {
                    "type": "MERCHANT_ID",
                    "account": r.account,
                    "amount": r.amount_fen,
                    "description": r.description,
                }
                for r in order.plan.receivers
            ],
            "unfreeze_unsplit": True,
        }
        try:
            _, data = await self._call("POST", "/v3/profitsharing/orders", body=body)
        except WechatPayError as exc:
            raise ProviderUnavailable(f"WeChat Pay did not take the profit sharing ({exc.code}).") from exc
        data = data or {}
        return ProfitShareSent(order_id=str(data.get("order_id", "")), state=str(data.get("state", "PROCESSING")))

    async def return_profit(self, back: ProfitReturn) -> str:
        """Claw a receiver's share back (a refund after settlement), under ``out_return_no`` (once);
        returns WeChat's result (``PROCESSING``, ``SUCCESS`` or ``FAILED``)."""
        body = {
            "sub_mchid": back.sub_mchid,
            "out_order_no": back.out_order_no,
            "out_return_no": back.out_return_no,
            "return_mchid": back.account,
            "amount": back.amount_fen,
            "description": back.description,
        }
        try:
            _, data = await self._call("POST", "/v3/profitsharing/return-orders", body=body)
        except WechatPayError as exc:
            raise ProviderUnavailable(f"WeChat Pay did not take the return ({exc.code}).") from exc
        return str((data or {}).get("result", "PROCESSING"))

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """A notification verified on its raw bytes, then decrypted; ``InvalidSignature`` otherwise."""
        if not self.verify(payload, headers):
            raise InvalidSignature("The WeChat Pay signature is missing, wrong or stale.")
        try:
            envelope = json.loads(payload)
        except ValueError as exc:
            raise InvalidPayload("The notification is not valid JSON.") from exc
        if not isinstance(envelope, dict) or not isinstance(envelope.get("id"), str):
            raise InvalidPayload("The notification has no id.")
        resource = envelope.get("resource")
        if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidPayload("The notification has no encrypted resource.")
        try:
            plain = json.loads(decrypt_resource(self._config.api_v3_key, resource))
        except ValueError as exc:
            raise InvalidPayload("The notification's resource is not JSON.") from exc
        if not isinstance(plain, dict):
            raise InvalidPayload("The notification's resource is not an object.")
        mchid = plain.get("sp_mchid") if self._config.partner_mode else plain.get("mchid")
        if mchid is not None and str(mchid) != self._config.mchid:
            raise InvalidPayload("The notification is for another merchant.")
        event_type = str(envelope.get("event_type", ""))
        return ProviderEvent(
            id=f"wechat_pay:{envelope['id']}", type=event_type, changes=_changes(event_type, plain)
        )

    async def list_payments(self, window: Window) -> Sequence[ListedPayment]:
        """WeChat Pay lists nothing by time: see ``query_payment``."""
        return []

    async def list_refunds(self, window: Window) -> Sequence[ListedRefund]:
        """WeChat Pay lists nothing by time: see ``query_refund``."""
        return []


def _listed_payment(data: Mapping[str, Any]) -> ListedPayment:
    amount = data.get("amount") or {}
    status = _TRADE_STATE.get(str(data.get("trade_state")), PaymentStatus.REQUIRES_PAYMENT)
    succeeded = status == PaymentStatus.SUCCEEDED
    attach = data.get("attach")
    return ListedPayment(
        provider_ref=str(data.get("out_trade_no", "")),
        status=status,
        amount_fen=int(amount.get("total") or 0),
        received_fen=int(amount.get("total") or 0) if succeeded else 0,
        order_id=str(attach) if attach else None,
        created_at=_time(data.get("success_time")),
        currency=str(amount.get("currency") or CURRENCY).lower(),
        transaction_id=str(data["transaction_id"]) if data.get("transaction_id") else None,
    )


def _listed_refund(data: Mapping[str, Any]) -> ListedRefund:
    amount = data.get("amount") or {}
    status = _REFUND_STATE.get(str(data.get("status") or data.get("refund_status")), RefundState.PENDING)
    return ListedRefund(
        provider_ref=str(data.get("refund_id") or data.get("out_refund_no") or ""),
        payment_ref=data.get("out_trade_no"),
        amount_fen=int(amount.get("refund") or 0),
        status=status,
        refund_id=data.get("out_refund_no"),
        created_at=_time(data.get("create_time")),
        failure_reason=None if status != RefundState.FAILED else f"WeChat Pay: {data.get('status') or data.get('refund_status')}",
    )


def _changes(event_type: str, resource: Mapping[str, Any]) -> tuple[Change, ...]:
    if event_type == "TRANSACTION.SUCCESS":
        paid = _listed_payment(resource)
        if paid.status != PaymentStatus.SUCCEEDED:
            return (PaymentStatusChanged(paid.provider_ref, paid.status),)
        return (
            PaymentSucceeded(
                provider_ref=paid.provider_ref,
                amount_fen=paid.received_fen,
                order_id=paid.order_id,
                currency=paid.currency,
            ),
        )
    if event_type.startswith("REFUND."):
        refund = _listed_refund(resource)
        return (
            RefundUpdated(
                provider_ref=refund.provider_ref,
                status=refund.status,
                refund_id=refund.refund_id,
                failure_reason=refund.failure_reason,
            ),
        )
    return ()
