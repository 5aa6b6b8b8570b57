"""Unit tests for pipeline.kafka_config: security settings from the environment, client settings, redaction."""
from __future__ import annotations

import pytest

from pipeline.kafka_config import ENV_PREFIX, client_settings, redact, security_settings

P = ENV_PREFIX


def test_empty_environment_gives_no_security_settings():
    assert security_settings({}) == {}


def test_unrelated_variables_are_ignored():
    assert security_settings({"KAFKA_SASL_PASSWORD": "x", "SECURITY_PROTOCOL": "SSL", P + "OTHER": "y"}) == {}


def test_plain_settings_are_mapped_and_protocol_and_mechanism_upper_cased():
    env = {
        P + "SECURITY_PROTOCOL": "sasl_ssl",
        P + "SASL_MECHANISM": "scram-sha-512",
        P + "SASL_USERNAME": "MixedCase_User",
        P + "SSL_CAFILE": "/etc/ca.pem",
        P + "SSL_CERTFILE": "/etc/Cert.pem",
        P + "SSL_KEYFILE": "/etc/key.pem",
    }
    assert security_settings(env) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "MixedCase_User",  # not upper-cased
        "ssl_cafile": "/etc/ca.pem",
        "ssl_certfile": "/etc/Cert.pem",
        "ssl_keyfile": "/etc/key.pem",
    }


def test_empty_values_are_ignored():
    env = {P + "SECURITY_PROTOCOL": "", P + "SASL_PASSWORD": "", P + "SASL_USERNAME": ""}
    assert security_settings(env) == {}


def test_secret_values_from_environment():
    env = {P + "SASL_PASSWORD": "s3cret ", P + "SSL_PASSWORD": "keypass"}
    assert security_settings(env) == {"sasl_plain_password": "s3cret ", "ssl_password": "keypass"}


def test_secrets_read_from_files_and_trailing_newline_stripped(tmp_path):
    sasl = tmp_path / "sasl"
    sasl.write_text("from-file\n", encoding="utf-8")
    ssl = tmp_path / "ssl"
    ssl.write_text("key-pass\r\n", encoding="utf-8")
    env = {P + "SASL_PASSWORD_FILE": str(sasl), P + "SSL_PASSWORD_FILE": str(ssl)}
    assert security_settings(env) == {"sasl_plain_password": "from-file", "ssl_password": "key-pass"}


def test_secret_file_without_newline_and_inner_spaces_kept(tmp_path):
    f = tmp_path / "pw"
    f.write_text("pass word", encoding="utf-8")
    assert security_settings({P + "SASL_PASSWORD_FILE": str(f)}) == {"sasl_plain_password": "pass word"}


def test_unicode_secret_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("pässwörd✓\n", encoding="utf-8")
    assert security_settings({P + "SASL_PASSWORD_FILE": str(f)})["sasl_plain_password"] == "pässwörd✓"


def test_value_wins_over_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n", encoding="utf-8")
    env = {P + "SASL_PASSWORD": "from-env", P + "SASL_PASSWORD_FILE": str(f)}
    assert security_settings(env) == {"sasl_plain_password": "from-env"}


def test_value_wins_even_when_file_is_missing(tmp_path):
    env = {P + "SASL_PASSWORD": "from-env", P + "SASL_PASSWORD_FILE": str(tmp_path / "nope")}
    assert security_settings(env) == {"sasl_plain_password": "from-env"}


def test_empty_value_falls_back_to_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n", encoding="utf-8")
    env = {P + "SASL_PASSWORD": "", P + "SASL_PASSWORD_FILE": str(f)}
    assert security_settings(env) == {"sasl_plain_password": "from-file"}


def test_missing_secret_file_fails_loudly(tmp_path):
    with pytest.raises(FileNotFoundError):
        security_settings({P + "SASL_PASSWORD_FILE": str(tmp_path / "nope")})


def test_empty_secret_file_gives_no_setting(tmp_path):
    f = tmp_path / "pw"
    f.write_text("\n", encoding="utf-8")
    assert security_settings({P + "SASL_PASSWORD_FILE": str(f)}) == {}


def test_file_variables_only_for_secrets(tmp_path):
    f = tmp_path / "user"
    f.write_text("alice\n", encoding="utf-8")
    assert security_settings({P + "SASL_USERNAME_FILE": str(f)}) == {}


def test_defaults_to_os_environ(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith(P):
            monkeypatch.delenv(key)
    monkeypatch.setenv(P + "SECURITY_PROTOCOL", "ssl")
    assert security_settings() == {"security_protocol": "SSL"}
    assert client_settings("b:9092")["security_protocol"] == "SSL"


# -- client_settings -----------------------------------------------------------------------


def test_client_settings_splits_bootstrap_list():
    s = client_settings(" k1:9092, k2:9093 ,,k3:9094,", env={})
    assert s["bootstrap_servers"] == ["k1:9092", "k2:9093", "k3:9094"]


def test_client_settings_single_server_and_defaults():
    s = client_settings("localhost:9092", env={})
    assert s == {
        "bootstrap_servers": ["localhost:9092"],
        "client_id": "newswire",
        "request_timeout_ms": 30000,
        "retry_backoff_ms": 200,
        "reconnect_backoff_max_ms": 5000,
    }


def test_client_settings_includes_security_and_extra_wins():
    env = {P + "SECURITY_PROTOCOL": "sasl_plaintext", P + "SASL_PASSWORD": "pw"}
    s = client_settings("b:1", env=env, client_id="custom", group_id="g", security_protocol="SSL")
    assert s["client_id"] == "custom"
    assert s["group_id"] == "g"
    assert s["sasl_plain_password"] == "pw"
    assert s["security_protocol"] == "SSL"


def test_client_settings_empty_bootstrap_gives_empty_list():
    assert client_settings(" , ", env={})["bootstrap_servers"] == []


# -- redact --------------------------------------------------------------------------------


def test_redact_hides_passwords_and_keeps_the_rest(tmp_path):
    env = {
        P + "SECURITY_PROTOCOL": "sasl_ssl",
        P + "SASL_USERNAME": "alice",
        P + "SASL_PASSWORD": "hunter2",
        P + "SSL_PASSWORD": "keypass",
    }
    settings = client_settings("b:9092", env=env)
    safe = redact(settings)
    assert safe["sasl_plain_password"] == "***"
    assert safe["ssl_password"] == "***"
    assert safe["sasl_plain_username"] == "alice"
    assert safe["security_protocol"] == "SASL_SSL"
    assert safe["bootstrap_servers"] == ["b:9092"]
    assert "hunter2" not in repr(safe) and "keypass" not in repr(safe)
    assert set(safe) == set(settings)
    # the original is not modified
    assert settings["sasl_plain_password"] == "hunter2"


def test_redact_without_secrets_is_an_equal_copy():
    settings = client_settings("b:9092", env={})
    safe = redact(settings)
    assert safe == settings and safe is not settings
