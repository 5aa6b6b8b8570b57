"""Unit tests for pipeline.io.kafka.security: the plaintext check, start-up refusals and their exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.io.kafka.config import ENV_PREFIX, KafkaConfigError
from pipeline.io.kafka.security import (
    KafkaStartupError,
    bootstrap_hosts,
    first_connection,
    is_loopback,
    plaintext_refusal,
    preflight,
    run_with_kafka,
)

REPO = Path(__file__).resolve().parents[4]
P = ENV_PREFIX


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(P):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.53", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LOCALHOST"],
)
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "128.0.0.1", "10.0.0.5", "0.0.0.0", "::", "::ffff:10.0.0.1", "fe80::1", "192.168.1.10",
        "kafka-1", "kafka.example.com", "localhost.example.com", "my.localhost", "127.0.0.1.nip.io",
        "127.1",  # inet_aton shorthand: a resolver may accept it, the check does not guess
        "localhost.",
    ],
)
def test_non_loopback_hosts(host):
    assert not is_loopback(host)


def test_names_are_never_resolved(monkeypatch):
    import socket

    def no_dns(*_args, **_kwargs):
        raise AssertionError("the check must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    assert plaintext_refusal("kafka.internal:9092", "PLAINTEXT") is not None
    assert plaintext_refusal("localhost:9092", "PLAINTEXT") is None


@pytest.mark.parametrize(
    "servers,hosts",
    [
        ("127.0.0.1:9092", ["127.0.0.1"]),
        (" k1:9092 , k2 ,", ["k1", "k2"]),
        ("[::1]:9092,[fe80::1]", ["::1", "fe80::1"]),
        ("::1", ["::1"]),
        ("PLAINTEXT://10.1.2.3:9092", ["10.1.2.3"]),
        ("SASL_SSL://broker:9093", ["broker"]),
    ],
)
def test_bootstrap_hosts_parsed_like_kafka_python(servers, hosts):
    assert bootstrap_hosts(servers) == hosts


def test_unparseable_bootstrap_is_a_config_error():
    with pytest.raises(KafkaConfigError, match="cannot parse --bootstrap-servers"):
        bootstrap_hosts("broker:notaport")


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_plaintext_to_loopback_only_is_allowed(protocol):
    assert plaintext_refusal("127.0.0.1:9092,localhost:9093,[::1]:9094", protocol) is None


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_plaintext_to_any_remote_host_is_refused(protocol):
    refusal = plaintext_refusal("127.0.0.1:9092,kafka-2:9092,10.0.0.7:9092,kafka-2:9093", protocol)
    assert refusal is not None
    assert f"refusing a {protocol} (unencrypted) connection to kafka-2, 10.0.0.7" in refusal
    assert "--allow-plaintext" in refusal and "SASL_SSL" in refusal
    if protocol == "SASL_PLAINTEXT":
        assert "SASL credentials" in refusal


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_encrypted_connections_anywhere_are_allowed(protocol):
    assert plaintext_refusal("kafka-1.example.com:9093,10.0.0.7:9093", protocol) is None


def test_empty_bootstrap_is_a_config_error():
    with pytest.raises(KafkaConfigError, match="names no host"):
        plaintext_refusal(" , ", "SSL")


def test_preflight_refuses_then_allows_with_flag(clean_env):
    with pytest.raises(KafkaConfigError, match="refusing a PLAINTEXT"):
        preflight("kafka.example.com:9092", None, allow_plaintext=False)
    assert preflight("kafka.example.com:9092", None, allow_plaintext=True) == {"security_protocol": "PLAINTEXT"}


def test_preflight_warns_about_unknown_variables_by_name_only(clean_env, caplog):
    clean_env.setenv(P + "SASL_PASWORD", "typo-value-4471")
    preflight("127.0.0.1:9092", None, allow_plaintext=False)
    assert "unknown_kafka_setting variable=NEWSWIRE_KAFKA_SASL_PASWORD" in caplog.text
    assert "typo-value-4471" not in caplog.text


def test_preflight_validates_settings_first(clean_env):
    clean_env.setenv(P + "SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(KafkaConfigError, match="NEWSWIRE_KAFKA_SASL_MECHANISM is required"):
        preflight("kafka.example.com:9093", None, allow_plaintext=False)


def test_preflight_reads_the_settings_file(clean_env, tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SSL\n", encoding="utf-8")
    assert preflight("kafka.example.com:9093", str(f), allow_plaintext=False) == {"security_protocol": "SSL"}


def test_run_with_kafka_refusal_is_one_line_and_exit_2(clean_env, capsys):
    ran = []
    code = run_with_kafka("run", "kafka.example.com:9092", None, False, lambda: ran.append(1) or 0)
    assert code == 2 and ran == []
    err = capsys.readouterr().err
    assert err.startswith("newswire run: refusing a PLAINTEXT (unencrypted) connection to kafka.example.com")
    assert len(err.strip().splitlines()) == 1


def test_run_with_kafka_runs_the_action_after_the_checks(clean_env):
    assert run_with_kafka("run", "127.0.0.1:9092", None, False, lambda: 7) == 7


def test_first_connection_turns_kafka_errors_into_one_line(clean_env):
    from kafka.errors import KafkaTimeoutError

    with pytest.raises(KafkaStartupError) as err:
        with first_connection("k:9093", {"security_protocol": "SSL"}):
            raise KafkaTimeoutError("Unable to bootstrap from k:9093")
    assert err.value.exit_code == 1
    assert str(err.value) == "cannot connect to Kafka at k:9093 (SSL): KafkaTimeoutError: Unable to bootstrap from k:9093"


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(P)}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True, env=full_env, timeout=120
    )


def test_cli_run_refuses_plaintext_to_a_remote_broker(tmp_path):
    proc = run_cli("run", "--bootstrap-servers", "kafka.example.com:9092", "--topic", "wire", "--lake", str(tmp_path / "lake"))
    assert proc.returncode == 2
    assert "newswire run: refusing a PLAINTEXT (unencrypted) connection to kafka.example.com" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "lake").exists()


def test_cli_run_refuses_sasl_plaintext_to_a_remote_broker_without_printing_the_password(tmp_path):
    secret = "cli-refusal-canary-5531"
    env = {P + "SECURITY_PROTOCOL": "SASL_PLAINTEXT", P + "SASL_MECHANISM": "PLAIN", P + "SASL_USERNAME": "u",
           P + "SASL_PASSWORD": secret}
    proc = run_cli("--log-level", "DEBUG", "run", "--bootstrap-servers", "10.9.8.7:9092", "--topic", "wire",
                   "--lake", str(tmp_path / "lake"), env=env)
    assert proc.returncode == 2
    assert "refusing a SASL_PLAINTEXT (unencrypted) connection to 10.9.8.7" in proc.stderr
    assert "Traceback" not in proc.stderr and secret not in proc.stderr + proc.stdout


def test_cli_produce_refuses_too(tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("{}\n", encoding="utf-8")
    proc = run_cli("produce", "--bootstrap-servers", "kafka.example.com:9092", "--topic", "wire", str(feed))
    assert proc.returncode == 2 and "newswire produce: refusing a PLAINTEXT" in proc.stderr


def test_cli_bad_settings_are_exit_2_without_traceback(tmp_path):
    proc = run_cli("run", "--bootstrap-servers", "127.0.0.1:9092", "--topic", "wire", "--lake", str(tmp_path / "lake"),
                   env={P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_MECHANISM": "KERBEROS"})
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "newswire run: NEWSWIRE_KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, not 'KERBEROS'"
    )
    assert "Traceback" not in proc.stderr


def test_cli_bad_settings_file_is_exit_2(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SECURITY_PROTOCL=SSL\n", encoding="utf-8")
    proc = run_cli("run", "--bootstrap-servers", "127.0.0.1:9092", "--topic", "wire", "--lake", str(tmp_path / "lake"),
                   "--kafka-config", str(f))
    assert proc.returncode == 2
    assert "unknown setting NEWSWIRE_KAFKA_SECURITY_PROTOCL" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_broker_sasl_listener_needs_credentials(tmp_path):
    proc = run_cli("broker", "start", "--dir", str(tmp_path / "b"), "--port", "1", "--sasl-port", "2")
    assert proc.returncode == 2
    assert "a SASL listener needs NEWSWIRE_KAFKA_SASL_USERNAME and NEWSWIRE_KAFKA_SASL_PASSWORD" in proc.stderr
