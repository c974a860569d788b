"""WeChat mini-program login: ``jscode2session`` over httpx.

The ``session_key`` it returns stays on the server: it is never put in a response or a log line.
The request carries the app secret in its query string, so httpx's own request logging is
silenced in ``app.py``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from coopmarket.core.errors import (
    BadGateway,
    PermissionDenied,
    TooManyRequests,
    Unauthorized,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

BUSY = -1
INVALID_CODE = 40029
CODE_ALREADY_USED = 40163
RATE_LIMITED = 45011
HIGH_RISK_USER = 40226


@dataclass(frozen=True)
class WechatSession:
    openid: str
    session_key: str
    unionid: str | None


class WechatClient(Protocol):
    async def code_to_session(self, code: str) -> WechatSession: ...


class HttpxWechatClient:
    """The real client. ``transport`` is for tests (an ``httpx.MockTransport``)."""

    def __init__(
        self,
        *,
        appid: str | None,
        secret: str | None,
        base_url: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        busy_retries: int = 2,
        retry_delay: float = 0.2,
    ) -> None:
        self._appid = appid
        self._secret = secret
        self._busy_retries = busy_retries
        self._retry_delay = retry_delay
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def code_to_session(self, code: str) -> WechatSession:
        """Exchange a single-use ``wx.login`` code; map WeChat's error codes to problems."""
        if not self._appid or not self._secret:
            raise UpstreamUnavailable(
                "WeChat login is not configured on this server.", code="wechat_not_configured"
            )
        params = {
            "appid": self._appid,
            "secret": self._secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        for attempt in range(self._busy_retries + 1):
            try:
                response = await self._client.get("/sns/jscode2session", params=params)
                payload = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                # Only the class name: an httpx message carries the URL, and so the app secret.
                log.warning("wechat jscode2session failed: %s", type(exc).__name__)
                raise UpstreamUnavailable(
                    "WeChat could not be reached.",
                    code="wechat_unavailable",
                    headers={"Retry-After": "1"},
                ) from None
            errcode = _errcode(payload)
            if errcode == 0 and payload.get("openid") and payload.get("session_key"):
                return WechatSession(
                    openid=str(payload["openid"]),
                    session_key=str(payload["session_key"]),
                    unionid=payload.get("unionid"),
                )
            if errcode == BUSY and attempt < self._busy_retries:
                await asyncio.sleep(self._retry_delay * (attempt + 1))
                continue
            log.info("wechat jscode2session refused: errcode=%s", errcode)
            raise _problem_for(errcode)
        raise AssertionError("unreachable")  # pragma: no cover


def _errcode(payload: object) -> int | None:
    """WeChat's ``errcode`` (0 when absent, as on success); ``None`` for an answer of another shape."""
    if not isinstance(payload, dict):
        return None
    try:
        return int(payload.get("errcode") or 0)
    except (TypeError, ValueError):
        return None


def _problem_for(errcode: int | None) -> Exception:
    if errcode is None or errcode == 0:  # no error, yet no openid or session_key either
        return BadGateway("WeChat answered in an unexpected shape.", code="wechat_error")
    if errcode in (INVALID_CODE, CODE_ALREADY_USED):
        return Unauthorized(
            "The WeChat login code is invalid or was already used.", code="wechat_code_invalid"
        )
    if errcode == HIGH_RISK_USER:
        return PermissionDenied("WeChat blocked this login as high risk.", code="wechat_user_blocked")
    if errcode == RATE_LIMITED:
        return TooManyRequests(
            "Too many WeChat logins; try again shortly.",
            code="wechat_rate_limited",
            headers={"Retry-After": "60"},
        )
    if errcode == BUSY:
        return UpstreamUnavailable(
            "WeChat is busy; try again.", code="wechat_busy", headers={"Retry-After": "1"}
        )
    return BadGateway(f"WeChat answered with error {errcode}.", code="wechat_error")
