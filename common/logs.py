"""Structured JSON logs: one object per line, with the request and trace ids.

The ids live in context variables set by the gRPC interceptor, so every line
logged while serving a request carries them. Nothing logs request bodies,
API keys or payment method details; as a last line of defence, the message and
the exception text of every line are passed through `redact`: a database
error's bound parameters (`[parameters: ...]`, also hidden by the engines'
hide_parameters) and the values in PostgreSQL's `DETAIL: Key (...)=(...)`, and
any Luhn-valid card number standing alone, are replaced before the line is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

from .cards import luhn_valid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_KEY_DETAIL = re.compile(r"(Key \([^)]*\))=\([^\n]*?\)( already exists| is not present|$)", re.MULTILINE)
_PAN = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")


def _pan(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return "[redacted card number]" if luhn_valid(digits) else match.group()


def redact(text: str) -> str:
    """`text` without SQL parameters, key values of constraint errors and card numbers."""
    text = _SQL_PARAMETERS.sub("[parameters redacted]", text)
    text = _KEY_DETAIL.sub(r"\1=([redacted])\2", text)
    return _PAN.sub(_pan, text) if any(char.isdigit() for char in text) else text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "") or request_id_var.get(),
            "trace_id": getattr(record, "trace_id", "") or trace_id_var.get(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k not in entry})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def trace_id_from_traceparent(traceparent: str) -> str:
    """The trace id of a W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`), or ''."""
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return ""
