"""Log records as JSON lines (or text), each with the request id, scrubbed of secrets.

Every record goes through one formatter that scrubs what must never reach a log: bearer tokens
and JWTs, passwords and keys written as ``key=value``, provider secrets (``sk_live_…``,
``whsec_…``) and full mainland mobile numbers (kept as ``138****5678``). The code already avoids
logging those; the scrubber is the second line, for a library's message or a traceback that
quotes a value.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from coopmarket.ops.context import current_request_id
from coopmarket.settings import Settings

_PHONE = re.compile(r"(?<![0-9])((?:\+?86)?1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_PROVIDER_SECRET = re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+")
_KEY_VALUE = re.compile(
    r"""(?ix)
    \b(password|passwd|pwd|secret|app_?secret|session_key|api_?key|access_?token|refresh_?token
       |client_secret|private_key|apiv3_key)
    (["']?\s*[:=]\s*["']?)
    ([^\s"',&;}]+)
    """
)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

# Extras not worth a field: uvicorn's ANSI-coloured copy of the message.
_SKIP = frozenset({"request_id", "color_message"})


def scrub(text: str) -> str:
    """``text`` without tokens, secrets or full phone numbers."""
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _PROVIDER_SECRET.sub("[redacted]", text)
    text = _KEY_VALUE.sub(r"\1\2[redacted]", text)
    return _PHONE.sub(r"\1****\3", text)


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _SKIP and not key.startswith("_"):
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return scrub(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``, scrubbed like the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(request_tag)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or current_request_id()
        record.request_tag = f"[{request_id}] " if request_id else ""
        return scrub(super().format(record))


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.logs_as_json else TextFormatter()


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn applies it in every worker)."""
    formatter = (
        "coopmarket.ops.logging.JsonFormatter"
        if settings.logs_as_json
        else ("coopmarket.ops.logging.TextFormatter")
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": settings.log_level},
        "loggers": {
            # uvicorn's own loggers go through the root handler; its access log is replaced by
            # coopmarket.access (route templates, no query strings, request ids).
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # Libraries that would log URLs with secrets or statement parameters.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "aiosqlite": {"level": "INFO"},
            "botocore": {"level": "WARNING"},
            "stripe": {"level": "WARNING"},
        },
    }
