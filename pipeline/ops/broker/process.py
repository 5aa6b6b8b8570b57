"""The local broker's process: start, stop and status of the ``java`` it runs, with its ``broker.json``.

Start is idempotent and locked per directory so tests, the demo and a shell can share one broker; a
broker counts as running only when its pid is really this directory's Kafka and it answers a Metadata
request (a pid alone may be reused, hung or still starting). Children started here are reaped, so a
dead one never looks alive.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.io.kafka.probe import recv_exact
from pipeline.ops.broker import sasl as broker_sasl
from pipeline.ops.broker.config import _NODE_ID, random_cluster_id, render_log4j2_config, render_server_properties
from pipeline.ops.broker.jars import KAFKA_VERSION, BrokerError, _atomic_write, _flock, _require_tool, ensure_broker_jars
from pipeline.ops.broker.sasl import SaslUser

log = logging.getLogger(__name__)

_STATE_NAME = "broker.json"
_JVM_HEAP = ("-Xms256m", "-Xmx768m")
_LOG_TAIL_LINES = 30

# Popen handles of brokers started by this process, so we can reap them
# (a dead-but-unreaped child would otherwise look alive to kill(pid, 0)).
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class BrokerInfo:
    """A running broker: where it lives and how to reach it."""

    dir: Path
    port: int
    controller_port: int
    pid: int
    bootstrap: str  # "127.0.0.1:PORT", ready for bootstrap_servers=
    sasl_port: int | None = None  # a SASL_PLAINTEXT listener (pipeline.ops.broker.sasl), if started with one

    @property
    def sasl_bootstrap(self) -> str | None:
        return f"127.0.0.1:{self.sasl_port}" if self.sasl_port is not None else None


def free_port() -> int:
    """A currently free loopback port ``p`` such that ``p + 1`` is free too.

    For tests: the broker uses ``p`` and its controller listener ``p + 1``.
    (Inherently racy, but good enough for parallel test runs.)
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and port_is_free(port) and port_is_free(port + 1):
            return port
    raise BrokerError("could not find two consecutive free loopback ports")


# --------------------------------------------------------------------------
# Broker lifecycle
# --------------------------------------------------------------------------


def start_broker(
    dir: Path,
    port: int = 9092,
    controller_port: int | None = None,
    timeout: float = 60.0,
    sasl_port: int | None = None,
    sasl_user: SaslUser | None = None,
) -> BrokerInfo:
    """Start (or reuse) the broker living in ``dir``; return once it serves requests.

    Idempotent so that tests, the demo and a developer's shell can all call it
    without coordinating: a live broker recorded in ``dir`` is returned as is.
    Otherwise jars are ensured, config rendered, storage formatted once, and
    ``java`` launched detached (it outlives this Python process). Raises
    :class:`BrokerError` (with the log tail) if it dies or is not ready in time.
    ``sasl_port`` adds a SASL_PLAINTEXT listener for ``sasl_user`` (PLAIN and SCRAM).
    """
    dir = Path(dir).expanduser().resolve()
    controller_port = port + 1 if controller_port is None else controller_port
    if port == controller_port:
        raise ValueError("port and controller_port must differ")
    if sasl_port is not None and sasl_port in (port, controller_port):
        raise ValueError("sasl_port must differ from port and controller_port")
    if (sasl_port is None) != (sasl_user is None):
        raise ValueError("sasl_port and sasl_user go together")
    dir.mkdir(parents=True, exist_ok=True)

    with _flock(dir / ".broker.lock"):
        state = _read_state(dir)
        info = _state_to_info(dir, state) if state is not None else None
        if info is not None:
            if _pid_is_our_broker(info.pid, dir):
                if (info.port, info.controller_port) != (port, controller_port):
                    log.warning(
                        "broker in %s already runs on %s (controller %s), not on the requested %s/%s; reusing it",
                        dir, info.port, info.controller_port, port, controller_port,
                    )
                if sasl_port is not None:
                    _require_same_sasl(info, sasl_port, sasl_user)
                # Alive: it is either ready, or still starting (started by someone else).
                _wait_until_ready(info, timeout)
                if sasl_user is not None:
                    broker_sasl.create_scram_credentials(info.bootstrap, sasl_user)
                return info
            log.info("removing stale %s (pid %s is gone)", dir / _STATE_NAME, info.pid)
        (dir / _STATE_NAME).unlink(missing_ok=True)  # stale or unreadable

        ports = ((port, "broker"), (controller_port, "controller")) + (
            ((sasl_port, "SASL listener"),) if sasl_port is not None else ()
        )
        for p, what in ports:
            if not port_is_free(p):
                raise BrokerError(
                    f"{what} port 127.0.0.1:{p} is already in use by another process "
                    f"(see `ss -ltnp 'sport = :{p}'`); choose another port or stop that process"
                )

        jars_dir = ensure_broker_jars()
        java = _require_tool("java")

        config_dir = dir / "config"
        logs_dir = dir / "logs"
        data_dir = dir / "data"
        for d in (config_dir, logs_dir, data_dir):
            d.mkdir(parents=True, exist_ok=True)
        server_props = config_dir / "server.properties"
        log4j_props = config_dir / "log4j2.properties"
        # With SASL it holds the PLAIN password: readable by its owner only.
        _atomic_write(
            server_props,
            render_server_properties(dir, port, controller_port, sasl_port, sasl_user),
            mode=0o600 if sasl_user is not None else 0o644,
        )
        _atomic_write(log4j_props, render_log4j2_config(logs_dir))

        jvm_common = [
            java,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j_props}",
            f"-Dkafka.logs.dir={logs_dir}",
            "-cp", str(jars_dir / "*"),
        ]

        if not (data_dir / "meta.properties").exists():
            _format_storage(jvm_common, server_props, dir)

        cmd = [
            jvm_common[0], *_JVM_HEAP, "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData",
            *jvm_common[1:], "kafka.Kafka", str(server_props),
        ]
        t0 = time.monotonic()
        with open(logs_dir / "stdout.log", "ab") as out:
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                cmd, cwd=dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        _CHILDREN[proc.pid] = proc
        info = BrokerInfo(dir=dir, port=port, controller_port=controller_port,
                          pid=proc.pid, bootstrap=f"127.0.0.1:{port}", sasl_port=sasl_port)
        _write_state(info)
        try:
            _wait_until_ready(info, timeout)
            if sasl_user is not None:
                broker_sasl.create_scram_credentials(info.bootstrap, sasl_user)
        except BaseException:
            # Don't leave a half-started JVM holding the ports.
            _terminate(info.pid, dir, timeout=10.0)
            (dir / _STATE_NAME).unlink(missing_ok=True)
            raise
        log.info("Kafka %s broker up at %s (pid %d) in %.1fs",
                 KAFKA_VERSION, info.bootstrap, info.pid, time.monotonic() - t0)
        return info


def _require_same_sasl(info: BrokerInfo, sasl_port: int, sasl_user: SaslUser) -> None:
    """A running broker can only be reused if it already has this SASL listener and user."""
    expected = render_server_properties(info.dir, info.port, info.controller_port, sasl_port, sasl_user)
    try:
        current = (info.dir / "config" / "server.properties").read_text(encoding="utf-8")
    except OSError:
        current = None
    if info.sasl_port != sasl_port or current != expected:
        raise BrokerError(
            f"the broker running in {info.dir} was not started with this SASL listener and user "
            f"(SASL port {info.sasl_port}); stop it first (`newswire broker stop --dir {info.dir}`)"
        )


def stop_broker(dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker in ``dir``: SIGTERM (clean shutdown), SIGKILL after ``timeout``.

    A clean shutdown matters: a killed KRaft node has to recover its logs on
    the next start. Returns whether a broker was running; always removes
    ``broker.json``.
    """
    dir = Path(dir).expanduser().resolve()
    if not dir.exists():
        return False
    with _flock(dir / ".broker.lock"):
        state = _read_state(dir)
        info = _state_to_info(dir, state) if state is not None else None
        was_running = info is not None and _pid_is_our_broker(info.pid, dir)
        if was_running:
            _terminate(info.pid, dir, timeout)
        (dir / _STATE_NAME).unlink(missing_ok=True)
        return was_running


def broker_status(dir: Path) -> BrokerInfo | None:
    """The broker in ``dir`` if it is alive *and* answers Kafka requests, else None.

    "Process exists" is not enough (it may be starting, hung, or the pid
    reused), so this asks the broker itself.
    """
    dir = Path(dir).expanduser().resolve()
    state = _read_state(dir)
    info = _state_to_info(dir, state) if state is not None else None
    if info is None or not _pid_is_our_broker(info.pid, dir):
        return None
    return info if _answers(info.bootstrap, timeout=5.0) else None


# --------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------


def _format_storage(jvm_common: list[str], server_props: Path, dir: Path) -> None:
    """Format the KRaft metadata/log dir once (``--standalone``: this node is the sole voter)."""
    cluster_id = random_cluster_id()
    cmd = [jvm_common[0], "-Xmx256m", *jvm_common[1:], "kafka.tools.StorageTool", "format",
           "--standalone", "-t", cluster_id, "-c", str(server_props)]
    proc = subprocess.run(cmd, cwd=dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    with open(dir / "logs" / "stdout.log", "a", encoding="utf-8") as out:
        out.write(f"\n==== format storage (cluster id {cluster_id}):\n{proc.stdout}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-_LOG_TAIL_LINES:])
        raise BrokerError(f"formatting Kafka storage in {dir / 'data'} failed (exit {proc.returncode}):\n{tail}")


def _wait_until_ready(info: BrokerInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not _pid_alive(info.pid):
            raise BrokerError(
                f"Kafka broker (pid {info.pid}) in {info.dir} exited during startup.\n"
                + _log_tail(info.dir)
            )
        if _answers(info.bootstrap, timeout=5.0):
            return
        if time.monotonic() >= deadline:
            raise BrokerError(
                f"Kafka broker (pid {info.pid}) in {info.dir} did not answer on {info.bootstrap} "
                f"within {timeout:g}s.\n" + _log_tail(info.dir)
            )
        time.sleep(0.25)


def _answers(bootstrap: str, timeout: float) -> bool:
    """True if the broker answers a real Metadata request and lists itself as a live broker.

    A raw Metadata v4 request (one round-trip, no client threads, no log noise)
    rather than a full KafkaAdminClient: in KRaft a broker only appears in
    Metadata once the controller has registered and unfenced it, i.e. when it
    can actually create topics and serve produce/fetch.
    """
    host, _, port = bootstrap.rpartition(":")
    try:
        return _NODE_ID in _metadata_broker_ids(host or "127.0.0.1", int(port), timeout)
    except (OSError, ValueError, struct.error) as exc:
        log.debug("broker probe %s failed: %r", bootstrap, exc)
        return False


def _metadata_broker_ids(host: str, port: int, timeout: float) -> list[int]:
    """Send MetadataRequest v4 (no topics) and return the node ids of the live brokers."""
    correlation_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    client_id = b"newswire-broker-probe"
    # header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
    # body v4: topics=[] (empty array: brokers only), allow_auto_topic_creation=false
    payload = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    payload += struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        if not 0 < size < 64 * 1024 * 1024:
            raise ValueError(f"implausible Metadata response size {size}")
        resp = recv_exact(sock, size)
    (resp_correlation_id, _throttle_ms, n_brokers) = struct.unpack_from(">iii", resp, 0)
    if resp_correlation_id != correlation_id:
        raise ValueError("Metadata response correlation id mismatch")
    offset = 12
    ids = []
    for _ in range(n_brokers):
        (node_id, host_len) = struct.unpack_from(">ih", resp, offset)
        offset += 6 + host_len + 4  # node_id, host, port
        (rack_len,) = struct.unpack_from(">h", resp, offset)
        offset += 2 + max(rack_len, 0)
        ids.append(node_id)
    return ids


def _terminate(pid: int, dir: Path, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; reaps our own children."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        log.warning("Kafka broker pid %d in %s did not stop within %.0fs; sending SIGKILL", pid, dir, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.05)
    _CHILDREN.pop(pid, None)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _pid_is_our_broker(pid: int, dir: Path) -> bool:
    """Alive, and (where /proc exists) really the Kafka JVM of *this* dir, not a reused pid."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not os.path.isdir("/proc")  # no procfs (macOS): trust the pid
    except OSError:
        return True
    args = [a.decode(errors="replace") for a in cmdline]
    return "kafka.Kafka" in args and str(dir / "config" / "server.properties") in args


def port_is_free(port: int) -> bool:
    """Can we bind 127.0.0.1:port? (SO_REUSEADDR: TIME_WAIT from a previous broker doesn't count.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _log_tail(dir: Path, n: int = _LOG_TAIL_LINES) -> str:
    parts = []
    for name in ("server.log", "stdout.log"):
        path = dir / "logs" / name
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        if not lines:
            continue
        tail = lines[-n:]
        if name == "server.log":
            # The fatal line is often scrolled out by shutdown chatter: surface it.
            window = lines[-2000:-n]
            errors = [
                "\n".join(window[i:i + 2])  # the ERROR line + the exception message after it
                for i, l in enumerate(window) if "] ERROR " in l or "] FATAL " in l
            ][-5:]
            if errors:
                parts.append(f"--- last ERROR lines of {path} ---\n" + "\n".join(errors))
        parts.append(f"--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no logs found in {dir / 'logs'})"


def _read_state(dir: Path) -> dict | None:
    try:
        return json.loads((dir / _STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_state(info: BrokerInfo) -> None:
    state = asdict(info)
    state["dir"] = str(info.dir)
    state["kafka_version"] = KAFKA_VERSION
    state["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _atomic_write(info.dir / _STATE_NAME, json.dumps(state, indent=2) + "\n")


def _state_to_info(dir: Path, state: dict) -> BrokerInfo | None:
    """broker.json -> BrokerInfo, or None if it is unreadable (treated as stale)."""
    try:
        port = int(state["port"])
        return BrokerInfo(
            dir=dir,
            port=port,
            controller_port=int(state.get("controller_port", port + 1)),
            pid=int(state["pid"]),
            bootstrap=str(state.get("bootstrap", f"127.0.0.1:{port}")),
            sasl_port=int(state["sasl_port"]) if state.get("sasl_port") is not None else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
