"""Unit tests for pipeline.core.redaction: secrets masked in text, log records of every logger, tracebacks."""
from __future__ import annotations

import io
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline.core import redaction
from pipeline.news.model import KafkaRecord
from pipeline.core.redaction import MASK, RedactingFilter, install_log_redaction, redact_text, register_secret
from pipeline.news.rows import dead_letter

REPO = Path(__file__).resolve().parents[3]


def fresh_secret(prefix: str = "canary") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def captured():
    """Everything logged at DEBUG and above, through a handler that formats like the CLI's."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    kafka_logger = logging.getLogger("kafka")
    old_kafka = kafka_logger.level
    kafka_logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        kafka_logger.setLevel(old_kafka)


# -- redact_text ----------------------------------------------------------------------------------


def test_registered_secret_is_masked_wherever_it_appears():
    secret = fresh_secret()
    register_secret(secret)
    assert redact_text(f"x{secret}y {secret}") == f"x{MASK}y {MASK}"


def test_escaped_forms_of_a_registered_secret_are_masked():
    secret = 'quo"te\\back-' + uuid.uuid4().hex[:8] + "-ü\t"
    register_secret(secret)
    for shown in (repr(secret), repr({"p": secret}), __import__("json").dumps(secret), repr(secret.encode("utf-8")),
                  secret.encode("unicode_escape").decode()):
        assert secret not in redact_text(shown)
        assert MASK in redact_text(shown), shown


def test_short_registered_values_are_not_masked_everywhere():
    register_secret("ab")
    assert redact_text("abc table") == "abc table"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("{'sasl_plain_password': 'hunter2', 'client_id': 'x'}", "{'sasl_plain_password': '***', 'client_id': 'x'}"),
        ('{"ssl_password": "k\\"ey", "a": 1}', '{"ssl_password": "***", "a": 1}'),
        ("NEWSWIRE_KAFKA_SASL_PASSWORD=hunter2 next", "NEWSWIRE_KAFKA_SASL_PASSWORD=*** next"),
        ('PlainLoginModule required username="u" password="hunter2";', 'PlainLoginModule required username="u" password="***";'),
        ("sasl.password: hunter2, other", "sasl.password: ***, other"),
        ("client_secret=abc", "client_secret=***"),
        ("{'sasl_plain_password': None}", "{'sasl_plain_password': None}"),
        ("NEWSWIRE_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka", "NEWSWIRE_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka"),
        ("Authentication failed: Invalid username or password", "Authentication failed: Invalid username or password"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_password_like_settings_are_masked_even_when_not_registered(text, expected):
    assert redact_text(text) == expected


# -- log records ----------------------------------------------------------------------------------


def test_every_logger_is_redacted_including_kafka_children(captured):
    secret = fresh_secret()
    register_secret(secret)
    for name in ("newswire.driver", "kafka", "kafka.net.connection", "kafka.admin.client", "apache_beam.x", "other"):
        logging.getLogger(name).warning("value=%s end", secret)
    text = captured.getvalue()
    assert secret not in text
    assert text.count(f"value={MASK} end") == 6


def test_kafka_python_debug_configuration_line_is_masked(captured):
    """kafka-python's KafkaAdminClient logs its whole configuration, password included, at DEBUG."""
    from kafka import KafkaAdminClient

    secret = fresh_secret("admin-debug")
    with pytest.raises(Exception):
        KafkaAdminClient(
            bootstrap_servers="127.0.0.1:1",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username="u",
            sasl_plain_password=secret,  # never registered: the keyed pattern must catch it
            bootstrap_timeout_ms=300,
        )
    text = captured.getvalue()
    assert "Starting KafkaAdminClient with configuration" in text
    assert "'sasl_plain_password': '***'" in text
    assert secret not in text


def test_exception_text_is_redacted_and_not_reformatted(captured):
    secret = fresh_secret()
    register_secret(secret)
    try:
        raise RuntimeError(f"connect failed for {secret}")
    except RuntimeError:
        logging.getLogger("newswire.test").exception("failure")
    text = captured.getvalue()
    assert "RuntimeError: connect failed for ***" in text
    assert secret not in text


def test_stack_info_is_redacted(captured):
    secret = fresh_secret()
    register_secret(secret)

    def frame_with_secret(value=secret):
        logging.getLogger("newswire.test").warning("here", stack_info=True)

    frame_with_secret()
    assert secret not in captured.getvalue()


def test_handler_filter_catches_records_built_without_the_factory():
    secret = fresh_secret()
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_log_redaction([handler])
    record = logging.makeLogRecord({"msg": "forwarded %s", "args": (secret,), "levelno": logging.INFO, "levelname": "INFO"})
    handler.handle(record)
    assert stream.getvalue() == f"forwarded {MASK}\n"
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    install_log_redaction([handler])  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_structured_extra_fields_are_redacted_by_the_handler_filter():
    from pipeline.ops.logs import JsonFormatter

    secret = fresh_secret()
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    install_log_redaction([handler])
    logger = logging.getLogger("newswire.test.extra")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("structured", extra={"detail": f"with {secret}", "nested": {"sasl_plain_password": secret},
                                            "batch_id": 3})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    entry = __import__("json").loads(stream.getvalue())
    assert secret not in stream.getvalue()
    assert entry["detail"] == f"with {MASK}" and entry["batch_id"] == 3
    assert "***" in entry["nested"]


def test_broken_format_arguments_do_not_leak(captured):
    secret = fresh_secret()
    register_secret(secret)
    logging.getLogger("newswire.test").warning("two %s %s", secret)
    assert secret not in captured.getvalue()


def test_records_without_secrets_keep_their_arguments():
    record = logging.LogRecord("newswire", logging.INFO, __file__, 1, "batch=%d", (7,), None)
    RedactingFilter().filter(record)
    assert record.args == (7,) and record.getMessage() == "batch=7"


def test_uncaught_exception_traceback_is_redacted():
    secret = fresh_secret()
    code = (
        "from pipeline.core.redaction import install_log_redaction, register_secret\n"
        f"install_log_redaction(); register_secret({secret!r})\n"
        f"raise RuntimeError('bad ' + {secret!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "RuntimeError: bad ***" in proc.stderr
    assert secret not in proc.stderr


def test_uncaught_exception_in_a_thread_is_redacted():
    secret = fresh_secret()
    code = (
        "import threading\n"
        "from pipeline.core.redaction import install_log_redaction, register_secret\n"
        f"install_log_redaction(); register_secret({secret!r})\n"
        "def boom(): raise ValueError('thread ' + " + repr(secret) + ")\n"
        "t = threading.Thread(target=boom, name='worker-1'); t.start(); t.join()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "Exception in thread worker-1" in proc.stderr and "ValueError: thread ***" in proc.stderr
    assert secret not in proc.stderr


# -- dead letters ----------------------------------------------------------------------------------


def test_dead_letter_error_text_is_redacted_but_raw_bytes_are_kept():
    secret = fresh_secret()
    register_secret(secret)
    record = KafkaRecord(topic="t", partition=0, offset=1, key=None, value=b'{"x": 1}', timestamp_ms=0)
    letter = dead_letter(record, "decode", "internal_error", f"failed with {secret}")
    assert letter.error == f"failed with {MASK}"
    assert letter.raw == b'{"x": 1}'


def test_registered_count_never_exposes_values():
    before = redaction.registered_secret_count()
    register_secret(fresh_secret())
    assert redaction.registered_secret_count() > before
