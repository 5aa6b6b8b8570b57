"""JSON logs: one object per line with the standard keys, ``extra=`` fields and exceptions."""
from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

import pytest

from pipeline.ops.cli import build_parser
from pipeline.ops.logs import JsonFormatter, configure_logging


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_object_per_line_with_standard_keys_and_extra_fields(json_log):
    logging.getLogger("newswire.driver").info(
        "batch_committed batch=%d", 7, extra={"batch_id": 7, "rows": 120, "ranges": [{"topic": "wire", "start": 0}]}
    )
    logging.getLogger("newswire.job").warning("second line\nwith a newline")
    first, second = lines(json_log)
    assert first["level"] == "INFO" and first["logger"] == "newswire.driver"
    assert first["message"] == "batch_committed batch=7"
    assert first["batch_id"] == 7 and first["rows"] == 120 and first["ranges"] == [{"topic": "wire", "start": 0}]
    assert datetime.fromisoformat(first["ts"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert second["message"] == "second line\nwith a newline" and second["level"] == "WARNING"
    assert "args" not in first and "msg" not in first and "exception" not in first


def test_timestamp_is_the_record_time_in_utc():
    record = logging.LogRecord("newswire.job", logging.INFO, __file__, 1, "job_started", None, None)
    record.created = datetime(2026, 11, 24, 8, 0, 1, 250000, tzinfo=timezone.utc).timestamp()
    assert json.loads(JsonFormatter().format(record))["ts"] == "2026-11-24T08:00:01.250Z"


def test_exception_is_a_field(json_log):
    try:
        raise ValueError("bad offset")
    except ValueError:
        logging.getLogger("newswire.driver").exception("batch_failed")
    (entry,) = lines(json_log)
    assert entry["level"] == "ERROR" and entry["message"] == "batch_failed"
    assert "Traceback" in entry["exception"] and "ValueError: bad offset" in entry["exception"]


def test_values_json_cannot_encode_are_made_safe(json_log):
    when = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    logging.getLogger("x").info("m", extra={"at": when, "raw": b"secret payload", "tags": {"a"}})
    (entry,) = lines(json_log)
    assert entry["at"] == "2026-11-24T08:00:00+00:00" and entry["raw"] == "<14 bytes>" and entry["tags"] == ["a"]


def test_text_format_is_unchanged():
    stream = io.StringIO()
    handler = configure_logging("INFO", "text", stream=stream)
    try:
        logging.getLogger("newswire.job").info("job_started topics=%s", "wire", extra={"batch_id": 1})
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("INFO newswire.job job_started topics=wire")


def test_reconfiguring_replaces_the_earlier_handler():
    first = configure_logging("INFO", "text", stream=io.StringIO())
    second = configure_logging("INFO", "json", stream=io.StringIO())
    try:
        assert first not in logging.getLogger().handlers and second in logging.getLogger().handlers
    finally:
        logging.getLogger().removeHandler(second)


def test_cli_accepts_json_and_rejects_other_formats(capsys):
    args = build_parser().parse_args(["--log-format", "json", "sql", "--lake", "x", "SELECT 1"])
    assert args.log_format == "json"
    assert build_parser().parse_args(["sql", "--lake", "x", "SELECT 1"]).log_format == "text"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-format", "xml", "sql", "--lake", "x", "SELECT 1"])
    with pytest.raises(ValueError):
        configure_logging("INFO", "xml")
