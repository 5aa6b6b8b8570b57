"""Pure tests for pipeline.ops.broker: config rendering, ids, cache location, no-JVM paths."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.ops.broker import jars as broker_jars
from pipeline.ops.broker import process as broker_process
from pipeline.ops.broker.sasl import SaslUser, sasl_listener_properties, user_from_settings
from pipeline.io.kafka.config import ENV_PREFIX, KafkaConfigError
from pipeline.ops.broker import (
    KAFKA_VERSION,
    BrokerError,
    broker_status,
    ensure_broker_jars,
    free_port,
    jar_cache_dir,
    random_cluster_id,
    render_log4j2_config,
    render_pom,
    render_server_properties,
    start_broker,
    stop_broker,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def _props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            assert key not in out, f"duplicate key {key}"
            out[key] = value
    return out


# ---------------------------------------------------------------- server.properties


def test_server_properties_single_node_kraft(tmp_path):
    props = _props(render_server_properties(tmp_path, 19092, 19093))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_server_properties_dev_settings(tmp_path):
    props = _props(render_server_properties(tmp_path, 9092, 9093))
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == "3"
    assert props["auto.create.topics.enable"] == "false"


def test_server_properties_only_loopback(tmp_path):
    text = render_server_properties(tmp_path, 9092, 9093)
    hosts = set(re.findall(r"//([^:,]+):", text)) | set(re.findall(r"servers=([^:]+):", text))
    assert hosts == {"127.0.0.1"}


# ---------------------------------------------------------------- log4j2


def test_log4j2_config_rolling_file_at_info(tmp_path):
    text = render_log4j2_config(tmp_path / "logs")
    props = {k.strip(): v.strip() for k, v in (l.split("=", 1) for l in text.splitlines() if "=" in l and not l.startswith("#"))}
    assert props["appender.server.type"] == "RollingFile"
    assert props["appender.server.fileName"] == str(tmp_path / "logs" / "server.log")
    assert props["appender.server.filePattern"].startswith(str(tmp_path / "logs" / "server.log."))
    assert props["appender.server.policies.size.type"] == "SizeBasedTriggeringPolicy"
    assert props["appender.server.policies.size.size"] == "20MB"
    assert int(props["appender.server.strategy.max"]) >= 1
    assert props["rootLogger.level"] == "INFO"
    assert props["rootLogger.appenderRef.server.ref"] == "SERVER"
    assert "Console" not in text  # nothing to stdout


# ---------------------------------------------------------------- pom


def test_pom_dependencies():
    root = ET.fromstring(render_pom())
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        (d.findtext("m:groupId", namespaces=ns), d.findtext("m:artifactId", namespaces=ns)): d.findtext("m:version", namespaces=ns)
        for d in root.iterfind("m:dependencies/m:dependency", ns)
    }
    assert deps[("org.apache.kafka", "kafka_2.13")] == KAFKA_VERSION == "4.1.1"
    assert deps[("org.slf4j", "slf4j-api")].startswith("2.0.")
    assert deps[("org.apache.logging.log4j", "log4j-slf4j2-impl")] == "2.24.3"
    assert deps[("org.apache.logging.log4j", "log4j-core")] == "2.24.3"


# ---------------------------------------------------------------- cluster id


def test_cluster_id_is_kafka_uuid_format():
    ids = {random_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    for cid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid), cid
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


# ---------------------------------------------------------------- cache dir


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSWIRE_CACHE_DIR", str(tmp_path / "c"))
    assert jar_cache_dir() == (tmp_path / "c" / f"kafka-{KAFKA_VERSION}").resolve()


def test_cache_dir_default_is_user_cache_outside_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("NEWSWIRE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = jar_cache_dir()
    assert cache == (tmp_path / ".cache" / "newswire" / "kafka-4.1.1").resolve()
    assert not cache.is_relative_to(REPO_ROOT)


def test_real_default_cache_dir_outside_repo(monkeypatch):
    monkeypatch.delenv("NEWSWIRE_CACHE_DIR", raising=False)
    assert not jar_cache_dir().is_relative_to(REPO_ROOT)


def test_cache_dir_inside_repo_is_refused(monkeypatch):
    monkeypatch.setenv("NEWSWIRE_CACHE_DIR", str(REPO_ROOT / ".cache"))
    with pytest.raises(BrokerError, match="inside the repository"):
        jar_cache_dir()
    with pytest.raises(BrokerError, match="inside the repository"):
        ensure_broker_jars(REPO_ROOT / ".cache" / "x")
    assert not (REPO_ROOT / ".cache" / "x").exists()


# ---------------------------------------------------------------- jar provisioning (no mvn)


def _fake_cache(cache: Path) -> Path:
    jars = cache / "jars"
    jars.mkdir(parents=True)
    names = ["a.jar", "b.jar"]
    for n in names:
        (jars / n).write_bytes(b"PK")
    marker = {"pom_sha256": broker_jars._sha256(render_pom()), "jars": names}
    (cache / broker_jars._MARKER_NAME).write_text(json.dumps(marker))
    return jars


def test_ensure_jars_is_noop_when_marker_complete(monkeypatch, tmp_path):
    jars = _fake_cache(tmp_path / "cache")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # mvn would not be found
    assert ensure_broker_jars(tmp_path / "cache") == jars.resolve()


def test_ensure_jars_clear_error_without_mvn(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match=r"`(java|mvn)` not found"):
        ensure_broker_jars(tmp_path / "cache")
    assert not (tmp_path / "cache" / broker_jars._MARKER_NAME).exists()


def test_ensure_jars_redoes_incomplete_cache(monkeypatch, tmp_path):
    jars = _fake_cache(tmp_path / "cache")
    (jars / "b.jar").unlink()  # a jar went missing -> marker no longer trusted
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match="not found"):
        ensure_broker_jars(tmp_path / "cache")


# ---------------------------------------------------------------- lifecycle paths without a JVM


def test_free_port_gives_two_free_ports():
    port = free_port()
    for p in (port, port + 1):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))


def test_status_and_stop_on_empty_dir(tmp_path):
    assert broker_status(tmp_path) is None
    assert stop_broker(tmp_path) is False
    assert stop_broker(tmp_path / "does-not-exist") is False


def test_stale_state_is_not_running(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "broker.json").write_text(json.dumps(
        {"pid": dead.pid, "port": 1, "controller_port": 2, "bootstrap": "127.0.0.1:1"}))
    assert broker_status(tmp_path) is None
    assert stop_broker(tmp_path) is False
    assert not (tmp_path / "broker.json").exists()


def test_foreign_live_pid_is_not_our_broker(tmp_path):
    # broker.json pointing at a live process that is not this dir's Kafka (pid reuse).
    import os

    (tmp_path / "broker.json").write_text(json.dumps(
        {"pid": os.getpid(), "port": 1, "controller_port": 2, "bootstrap": "127.0.0.1:1"}))
    assert broker_status(tmp_path) is None
    assert stop_broker(tmp_path) is False  # and, crucially, did not signal us


def test_start_fails_clearly_when_port_busy(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port} is already in use"):
            start_broker(tmp_path / "b", port=port, controller_port=free_port())
    assert not (tmp_path / "b" / "broker.json").exists()


def test_probe_on_closed_port_is_false():
    assert broker_process._answers(f"127.0.0.1:{free_port()}", timeout=1.0) is False


def test_start_rejects_same_ports(tmp_path):
    with pytest.raises(ValueError):
        start_broker(tmp_path, port=20000, controller_port=20000)


# ---------------------------------------------------------------- SASL listener (pipeline.ops.broker.sasl)

P = ENV_PREFIX


def _java_unescape(value: str) -> str:
    """What java.util.Properties reads back for the escapes render uses (\\\\, \\n, \\r, \\uXXXX, '\\ ')."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and value[i + 1:i + 2] == "u":
            out.append(chr(int(value[i + 2:i + 6], 16)))
            i += 6
        elif c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_server_properties_without_sasl_have_no_sasl_settings(tmp_path):
    props = _props(render_server_properties(tmp_path, 19092, 19093))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert not any(k.startswith(("sasl.", "listener.name.")) for k in props)


def test_sasl_listener_added_next_to_plaintext(tmp_path):
    user = SaslUser("newswire", "pw-1")
    props = _props(render_server_properties(tmp_path, 19092, 19093, 19094, user))
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"
    )
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19094"
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["listener.name.sasl_plaintext.plain.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_newswire="pw-1";'
    )
    for mechanism in ("scram-sha-256", "scram-sha-512"):
        assert props[f"listener.name.sasl_plaintext.{mechanism}.sasl.jaas.config"] == (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )


@pytest.mark.parametrize("password", ['with"quote', "back\\slash", " leading space", "new\nline", "ünï✓", "a=b;c", "emoji-😀"])
def test_awkward_passwords_survive_jaas_and_properties_escaping(tmp_path, password):
    line = next(l for l in sasl_listener_properties(SaslUser("u", password)) if ".plain." in l)
    assert "\n" not in line and line.isascii()
    jaas = _java_unescape(line.split("=", 1)[1]).encode("utf-16-be", "surrogatepass").decode("utf-16-be")
    quoted = jaas.split("user_u=", 1)[1].rstrip(";")
    assert quoted[0] == quoted[-1] == '"'
    inner = quoted[1:-1]
    assert inner.replace('\\"', '"').replace("\\\\", "\\") == password


def test_sasl_port_needs_a_user(tmp_path):
    with pytest.raises(ValueError, match="needs a user"):
        render_server_properties(tmp_path, 1, 2, 3, None)


def test_user_repr_hides_the_password():
    assert "hunter2" not in repr(SaslUser("u", "hunter2"))


def test_user_from_environment_and_password_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\n", encoding="utf-8")
    user = user_from_settings({P + "SASL_USERNAME": "dev", P + "SASL_PASSWORD_FILE": str(f)})
    assert (user.name, user.password) == ("dev", "from-file")


def test_user_from_settings_file(tmp_path):
    f = tmp_path / "kafka.env"
    f.write_text("NEWSWIRE_KAFKA_SASL_USERNAME=dev\nNEWSWIRE_KAFKA_SASL_PASSWORD=inline\n", encoding="utf-8")
    f.chmod(0o600)
    assert user_from_settings({}, config_file=f) == SaslUser("dev", "inline")


@pytest.mark.parametrize("env", [{}, {P + "SASL_USERNAME": "dev"}, {P + "SASL_PASSWORD": "x"}])
def test_user_needs_name_and_password(env):
    with pytest.raises(KafkaConfigError, match="a SASL listener needs"):
        user_from_settings(env)


@pytest.mark.parametrize("name", ['a"b', "a\\b", "a=b", "a,b", "a\nb"])
def test_user_names_that_would_break_jaas_or_scram_are_refused(name):
    with pytest.raises(KafkaConfigError, match="may not contain"):
        user_from_settings({P + "SASL_USERNAME": name, P + "SASL_PASSWORD": "x"})
