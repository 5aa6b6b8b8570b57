"""Keeps secrets out of logs, tracebacks and error texts.

Two things are masked: the exact values of secrets this process has read (registered by
``pipeline.io.kafka.config`` the moment it reads them, in whichever process that is, so a Beam worker that
loads credentials protects its own logs too), and the value of anything that looks like a password
setting (``sasl_plain_password': '...'``, ``password="..."``, ``SASL_PASSWORD=...``), which catches a
secret this process never registered.

Log records are redacted when they are created (a log-record factory), which covers every logger:
kafka-python logs from ``kafka.conn``, ``kafka.admin.client`` and so on, and a filter attached to the
``kafka`` or ``newswire`` logger would only see records logged to that exact logger, never to its
children. A filter on the root handlers catches records built without the factory
(``logging.makeLogRecord``, used when log records are forwarded between processes), and the exception
hooks redact tracebacks that reach the top of a thread.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from typing import Iterable

MASK = "***"

# Registered values shorter than this are only masked by the keyed patterns: masking every "ab" in
# every log line would make logs unreadable and would not make a two-character password secret.
MIN_SECRET_LENGTH = 4

_KEY = r"[\w.-]*(?:password|passwd|secret)"
# 'sasl_plain_password': 'value'   password="value"   "ssl_password": "value"
_QUOTED = re.compile(rf"""(?i)(\b{_KEY}['"]?\s*[:=]\s*)(['"])((?:\\.|(?!\2).)*)\2""")
# SASL_PASSWORD=value   password: value   (not None / null: nothing to hide there)
_UNQUOTED = re.compile(rf"""(?i)(\b{_KEY}\s*[:=]\s*)(?!None\b|null\b|['"])([^\s,;'"}})\]]+)""")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # every registered value and its escaped forms, longest first
_factory_installed = False
_hooks_installed = False


def _forms(secret: str) -> set[str]:
    """The ways a string value shows up in text: as is, in a repr, JSON-escaped, as repr'd UTF-8 bytes."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.add(repr(secret.encode("utf-8"))[2:-1])
    forms.add(secret.encode("unicode_escape").decode("ascii"))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def register_secret(secret: str) -> None:
    """Mask ``secret`` from now on in this process's logs, tracebacks and error texts."""
    global _secrets
    if not secret:
        return
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | _forms(secret), key=len, reverse=True))
    _install_record_factory()


def registered_secret_count() -> int:
    """How many masked strings are registered (for tests and diagnostics; never the values)."""
    return len(_secrets)


def redact_text(text: str) -> str:
    """``text`` with registered secrets and password-like settings replaced by ``***``."""
    if not text:
        return text
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    lowered = text.lower()
    if "pass" in lowered or "secret" in lowered:
        text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)
        text = _UNQUOTED.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return text


def redact_record(record: logging.LogRecord) -> None:
    """Redact a log record in place: its message, its traceback and its stack."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging would print the raw args, so flatten them
        message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact_text(message), ()
    else:
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact_text(text)
        if clean != text:
            # A formatter would re-format exc_info unredacted: keep only the redacted text.
            record.exc_text, record.exc_info = clean, None
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact_extra_fields(record: logging.LogRecord) -> None:
    """Redact the ``extra=`` fields of a record (structured log formats print them as they are)."""
    for key, value in list(vars(record).items()):
        if key in _STANDARD_ATTRIBUTES or value is None or isinstance(value, (bool, int, float)):
            continue
        text = value if isinstance(value, str) else repr(value)
        clean = redact_text(text)
        if clean != text:
            setattr(record, key, clean)


class RedactingFilter(logging.Filter):
    """A handler or logger filter that redacts every record passing through it (never drops one).

    Unlike the record factory it also sees the ``extra=`` fields, which are added after a record is made.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        redact_extra_fields(record)
        return True


def _install_record_factory() -> None:
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _factory_installed = True


def _redacting_excepthook(exc_type, exc, tb) -> None:
    sys.stderr.write(redact_text("".join(traceback.format_exception(exc_type, exc, tb))))


def _redacting_thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(f"Exception in thread {name}:\n{redact_text(text)}")


def install_log_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Redact every log record of this process and every uncaught traceback (idempotent).

    ``handlers`` (default: the root logger's) also get a :class:`RedactingFilter`, for records that do
    not come from the record factory.
    """
    global _hooks_installed
    _install_record_factory()
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    with _lock:
        if not _hooks_installed:
            sys.excepthook = _redacting_excepthook
            threading.excepthook = _redacting_thread_excepthook
            _hooks_installed = True
