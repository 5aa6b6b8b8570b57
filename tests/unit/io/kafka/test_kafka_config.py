"""Unit tests for pipeline.io.kafka.config: settings from the environment and files, validation, redaction."""
from __future__ import annotations

import os

import pytest

from pipeline.core import redaction
from pipeline.io.kafka.config import (
    ENV_PREFIX,
    KafkaConfigError,
    client_settings,
    raw_security_settings,
    read_config_file,
    redact,
    security_settings,
)

P = ENV_PREFIX
SASL = {P + "SECURITY_PROTOCOL": "sasl_ssl", P + "SASL_MECHANISM": "scram-sha-512", P + "SASL_USERNAME": "alice"}


@pytest.fixture
def pem(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return str(path)


def test_empty_environment_is_plaintext_without_credentials():
    assert security_settings({}) == {"security_protocol": "PLAINTEXT"}


def test_unrelated_variables_are_ignored():
    env = {"KAFKA_SASL_PASSWORD": "x", "SECURITY_PROTOCOL": "SSL", P + "OTHER": "y"}
    assert security_settings(env) == {"security_protocol": "PLAINTEXT"}


def test_sasl_settings_mapped_and_protocol_and_mechanism_upper_cased():
    env = {**SASL, P + "SASL_USERNAME": "MixedCase_User", P + "SASL_PASSWORD": "s3cret "}
    assert security_settings(env) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "MixedCase_User",  # not upper-cased
        "sasl_plain_password": "s3cret ",  # kept exactly, spaces included
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "plain", " scram-sha-256 "])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_every_supported_sasl_combination(protocol, mechanism):
    env = {P + "SECURITY_PROTOCOL": protocol, P + "SASL_MECHANISM": mechanism, P + "SASL_USERNAME": "u", P + "SASL_PASSWORD": "pw"}
    settings = security_settings(env)
    assert settings["security_protocol"] == protocol
    assert settings["sasl_mechanism"] == mechanism.strip().upper()


def test_tls_settings_with_check_hostname(tmp_path, pem):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c", encoding="utf-8")
    key.write_text("k", encoding="utf-8")
    env = {
        P + "SECURITY_PROTOCOL": "ssl",
        P + "SSL_CAFILE": pem,
        P + "SSL_CERTFILE": str(cert),
        P + "SSL_KEYFILE": str(key),
        P + "SSL_PASSWORD": "keypass",
        P + "SSL_CHECK_HOSTNAME": "False",
    }
    assert security_settings(env) == {
        "security_protocol": "SSL",
        "ssl_cafile": pem,
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_password": "keypass",
        "ssl_check_hostname": False,
    }


@pytest.mark.parametrize("text,value", [("true", True), ("1", True), ("YES", True), ("on", True),
                                        ("false", False), ("0", False), ("No", False), ("off", False)])
def test_check_hostname_values(text, value):
    env = {P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CHECK_HOSTNAME": text}
    assert security_settings(env)["ssl_check_hostname"] is value


def test_check_hostname_defaults_to_kafka_python_default_true():
    assert "ssl_check_hostname" not in security_settings({P + "SECURITY_PROTOCOL": "SSL"})


# -- bad values: clear errors naming the variable ---------------------------------------------


@pytest.mark.parametrize(
    "env,message",
    [
        ({P + "SECURITY_PROTOCOL": "TLS"}, "NEWSWIRE_KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, not 'TLS'"),
        ({**SASL, P + "SASL_MECHANISM": "GSSAPI", P + "SASL_PASSWORD": "pw"}, "NEWSWIRE_KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, not 'GSSAPI'"),
        ({P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_USERNAME": "u", P + "SASL_PASSWORD": "pw"}, "NEWSWIRE_KAFKA_SASL_MECHANISM is required with SASL_SSL"),
        ({**SASL, P + "SASL_USERNAME": "", P + "SASL_PASSWORD": "pw"}, "NEWSWIRE_KAFKA_SASL_USERNAME is required with SASL_SSL"),
        (SASL, "NEWSWIRE_KAFKA_SASL_PASSWORD or NEWSWIRE_KAFKA_SASL_PASSWORD_FILE is required with SASL_SSL"),
        ({P + "SASL_USERNAME": "u", P + "SASL_PASSWORD": "pw"}, "NEWSWIRE_KAFKA_SASL_USERNAME, NEWSWIRE_KAFKA_SASL_PASSWORD given but NEWSWIRE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SASL_MECHANISM": "PLAIN"}, "NEWSWIRE_KAFKA_SASL_MECHANISM given but NEWSWIRE_KAFKA_SECURITY_PROTOCOL is SSL"),
        ({P + "SECURITY_PROTOCOL": "SASL_PLAINTEXT", P + "SASL_MECHANISM": "PLAIN", P + "SASL_USERNAME": "u", P + "SASL_PASSWORD": "pw", P + "SSL_CAFILE": "/x"}, "NEWSWIRE_KAFKA_SSL_CAFILE given but NEWSWIRE_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT"),
        ({P + "SSL_CHECK_HOSTNAME": "false"}, "NEWSWIRE_KAFKA_SSL_CHECK_HOSTNAME given but NEWSWIRE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CHECK_HOSTNAME": "maybe"}, "NEWSWIRE_KAFKA_SSL_CHECK_HOSTNAME must be true or false, not 'maybe'"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CAFILE": "/nonexistent/ca.pem"}, "NEWSWIRE_KAFKA_SSL_CAFILE: no such file: /nonexistent/ca.pem"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CAFILE": "/"}, "NEWSWIRE_KAFKA_SSL_CAFILE: not a file: /"),
    ],
)
def test_invalid_settings_are_refused_with_the_variable_named(env, message):
    with pytest.raises(KafkaConfigError) as err:
        security_settings(env)
    assert message in str(err.value)


def test_keyfile_and_key_password_need_a_certificate(pem):
    with pytest.raises(KafkaConfigError, match="NEWSWIRE_KAFKA_SSL_KEYFILE needs NEWSWIRE_KAFKA_SSL_CERTFILE"):
        security_settings({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_KEYFILE": pem})
    with pytest.raises(KafkaConfigError, match="NEWSWIRE_KAFKA_SSL_PASSWORD is the client key's password"):
        security_settings({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_PASSWORD": "x"})


def test_errors_never_contain_the_secret(tmp_path):
    secret = "hunter2-canary-in-error"
    cases = [
        {P + "SASL_PASSWORD": secret},  # protocol PLAINTEXT: refused
        {**SASL, P + "SASL_MECHANISM": "BOGUS", P + "SASL_PASSWORD": secret},
        {**SASL, P + "SASL_PASSWORD": secret, P + "SASL_PASSWORD_FILE": str(tmp_path / "pw")},
    ]
    for env in cases:
        with pytest.raises(KafkaConfigError) as err:
            security_settings(env)
        assert secret not in str(err.value) and secret not in repr(err.value)


# -- secrets from files ---------------------------------------------------------------------------


def test_secrets_read_from_files_and_trailing_newline_stripped(tmp_path):
    sasl = tmp_path / "sasl"
    sasl.write_text("from-file\n", encoding="utf-8")
    ssl = tmp_path / "ssl"
    ssl.write_text("key-pass\r\n", encoding="utf-8")
    env = {P + "SASL_PASSWORD_FILE": str(sasl), P + "SSL_PASSWORD_FILE": str(ssl)}
    assert raw_security_settings(env) == {"sasl_plain_password": "from-file", "ssl_password": "key-pass"}


def test_secret_file_without_newline_and_inner_spaces_kept(tmp_path):
    f = tmp_path / "pw"
    f.write_text("pass word", encoding="utf-8")
    assert raw_security_settings({P + "SASL_PASSWORD_FILE": str(f)}) == {"sasl_plain_password": "pass word"}


def test_unicode_secret_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("pässwörd✓\n", encoding="utf-8")
    assert raw_security_settings({P + "SASL_PASSWORD_FILE": str(f)})["sasl_plain_password"] == "pässwörd✓"


def test_value_and_file_together_are_ambiguous(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n", encoding="utf-8")
    env = {**SASL, P + "SASL_PASSWORD": "from-env", P + "SASL_PASSWORD_FILE": str(f)}
    with pytest.raises(KafkaConfigError, match="both NEWSWIRE_KAFKA_SASL_PASSWORD and NEWSWIRE_KAFKA_SASL_PASSWORD_FILE"):
        security_settings(env)


def test_empty_value_falls_back_to_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n", encoding="utf-8")
    env = {**SASL, P + "SASL_PASSWORD": "", P + "SASL_PASSWORD_FILE": str(f)}
    assert security_settings(env)["sasl_plain_password"] == "from-file"


def test_missing_secret_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(KafkaConfigError, match=rf"cannot read NEWSWIRE_KAFKA_SASL_PASSWORD_FILE \({missing}\): No such file"):
        security_settings({**SASL, P + "SASL_PASSWORD_FILE": str(missing)})


def test_empty_secret_file_means_no_password(tmp_path):
    f = tmp_path / "pw"
    f.write_text("\n", encoding="utf-8")
    with pytest.raises(KafkaConfigError, match="NEWSWIRE_KAFKA_SASL_PASSWORD or NEWSWIRE_KAFKA_SASL_PASSWORD_FILE is required"):
        security_settings({**SASL, P + "SASL_PASSWORD_FILE": str(f)})


def test_file_variables_only_for_secrets(tmp_path):
    f = tmp_path / "user"
    f.write_text("alice\n", encoding="utf-8")
    assert raw_security_settings({P + "SASL_USERNAME_FILE": str(f)}) == {}


def test_secrets_read_are_registered_for_redaction(tmp_path):
    f = tmp_path / "pw"
    f.write_text("registered-from-file-7731\n", encoding="utf-8")
    raw_security_settings({P + "SASL_PASSWORD_FILE": str(f), P + "SSL_PASSWORD": "registered-from-env-7732"})
    assert redaction.redact_text("a registered-from-file-7731 b registered-from-env-7732") == "a *** b ***"


def test_defaults_to_os_environ(monkeypatch):
    for key in list(os.environ):
        if key.startswith(P):
            monkeypatch.delenv(key)
    monkeypatch.setenv(P + "SECURITY_PROTOCOL", "ssl")
    assert security_settings() == {"security_protocol": "SSL"}
    assert client_settings("b:9092")["security_protocol"] == "SSL"


# -- the settings file (--kafka-config) -----------------------------------------------------------


def test_settings_file_env_style(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text(
        "# Kafka for newswire\n"
        "\n"
        "NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SASL_SSL\n"
        "export NEWSWIRE_KAFKA_SASL_MECHANISM = SCRAM-SHA-256\n"
        "NEWSWIRE_KAFKA_SASL_USERNAME='newswire'\n"
        'NEWSWIRE_KAFKA_SASL_PASSWORD="p=ss #word"\n',
        encoding="utf-8",
    )
    f.chmod(0o600)
    assert read_config_file(f) == {
        P + "SECURITY_PROTOCOL": "SASL_SSL",
        P + "SASL_MECHANISM": "SCRAM-SHA-256",
        P + "SASL_USERNAME": "newswire",
        P + "SASL_PASSWORD": "p=ss #word",
    }
    assert security_settings({}, config_file=f) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "newswire",
        "sasl_plain_password": "p=ss #word",
    }


def test_settings_file_combines_with_environment_and_password_file(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("from-secret-file\n", encoding="utf-8")
    f = tmp_path / "kafka.env"
    f.write_text(f"NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SASL_SSL\nNEWSWIRE_KAFKA_SASL_PASSWORD_FILE={pw}\n", encoding="utf-8")
    env = {P + "SASL_MECHANISM": "PLAIN", P + "SASL_USERNAME": "u", P + "SECURITY_PROTOCOL": "SASL_SSL"}
    settings = security_settings(env, config_file=f)
    assert settings["sasl_plain_password"] == "from-secret-file"
    assert settings["sasl_mechanism"] == "PLAIN"


def test_settings_file_and_environment_disagreeing_is_an_error(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SASL_SSL\n", encoding="utf-8")
    with pytest.raises(KafkaConfigError, match=f"NEWSWIRE_KAFKA_SECURITY_PROTOCOL is set both in the environment and in {f}"):
        security_settings({P + "SECURITY_PROTOCOL": "SSL"}, config_file=f)


@pytest.mark.parametrize(
    "text,message",
    [
        ("NEWSWIRE_KAFKA_SASL_PASWORD=x\n", "line 1: unknown setting NEWSWIRE_KAFKA_SASL_PASWORD"),
        ("# ok\nsasl.password=x\n", "line 2: expected NAME=value"),
        ("just words\n", "line 1: expected NAME=value"),
        ("NEWSWIRE_KAFKA_SASL_USERNAME=a\nNEWSWIRE_KAFKA_SASL_USERNAME=b\n", "line 2: NEWSWIRE_KAFKA_SASL_USERNAME is set twice"),
    ],
)
def test_bad_settings_files(tmp_path, text, message):
    f = tmp_path / "kafka.env"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(KafkaConfigError, match=message):
        read_config_file(f)


def test_bad_settings_file_line_is_not_echoed(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("sasl.password=never-echo-this-9911\n", encoding="utf-8")
    with pytest.raises(KafkaConfigError) as err:
        read_config_file(f)
    assert "never-echo-this-9911" not in str(err.value)


def test_missing_settings_file(tmp_path):
    with pytest.raises(KafkaConfigError, match="cannot read Kafka settings file .*: No such file"):
        security_settings({}, config_file=tmp_path / "absent.env")


def test_settings_file_with_password_readable_by_others_warns(tmp_path, caplog):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SASL_PASSWORD=x\n", encoding="utf-8")
    f.chmod(0o644)
    read_config_file(f)
    assert "kafka_settings_file_readable_by_others" in caplog.text
    caplog.clear()
    f.chmod(0o600)
    read_config_file(f)
    assert "readable_by_others" not in caplog.text


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
        "security_protocol": "PLAINTEXT",
    }


def test_client_settings_includes_security_and_extra_wins():
    env = {P + "SECURITY_PROTOCOL": "sasl_plaintext", P + "SASL_MECHANISM": "PLAIN", P + "SASL_USERNAME": "u", P + "SASL_PASSWORD": "pw"}
    s = client_settings("b:1", env=env, client_id="custom", group_id="g")
    assert s["client_id"] == "custom"
    assert s["group_id"] == "g"
    assert s["sasl_plain_password"] == "pw"
    assert s["security_protocol"] == "SASL_PLAINTEXT"


def test_client_settings_from_settings_file(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SSL\nNEWSWIRE_KAFKA_SSL_CHECK_HOSTNAME=no\n", encoding="utf-8")
    s = client_settings("b:1", env={}, config_file=f)
    assert s["security_protocol"] == "SSL" and s["ssl_check_hostname"] is False


def test_client_settings_are_accepted_by_every_kafka_python_client():
    """Every key we produce is a real kafka-python setting (a typo would raise at client creation)."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    env = {**SASL, P + "SASL_PASSWORD": "pw"}
    keys = set(client_settings("b:1", env=env)) | {"ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile",
                                                    "ssl_password", "ssl_check_hostname"}
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert keys <= set(client.DEFAULT_CONFIG), (client.__name__, keys - set(client.DEFAULT_CONFIG))


def test_client_settings_empty_bootstrap_gives_empty_list():
    assert client_settings(" , ", env={})["bootstrap_servers"] == []


# -- redact --------------------------------------------------------------------------------


def test_redact_hides_passwords_and_keeps_the_rest(tmp_path):
    env = {**SASL, P + "SASL_PASSWORD": "hunter2"}
    settings = client_settings("b:9092", env=env)
    safe = redact(settings)
    assert safe["sasl_plain_password"] == "***"
    assert safe["sasl_plain_username"] == "alice"
    assert safe["security_protocol"] == "SASL_SSL"
    assert safe["bootstrap_servers"] == ["b:9092"]
    assert "hunter2" not in repr(safe)
    assert set(safe) == set(settings)
    # the original is not modified
    assert settings["sasl_plain_password"] == "hunter2"


def test_redact_without_secrets_is_an_equal_copy():
    settings = client_settings("b:9092", env={})
    safe = redact(settings)
    assert safe == settings and safe is not settings
