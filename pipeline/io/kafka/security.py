"""Start-up checks of the Kafka connection: settings valid, and no plaintext to another machine.

A plaintext connection (``PLAINTEXT`` or ``SASL_PLAINTEXT``) is only accepted to a loopback bootstrap
host unless the operator passes ``--allow-plaintext``: with ``SASL_PLAINTEXT`` and ``PLAIN`` the password
itself crosses the network in clear text, and with either protocol every story does.

Loopback means an IPv4 address in 127.0.0.0/8, ``::1`` (also as ``::ffff:127.x.y.z``) or the literal
name ``localhost``. No other name is resolved: a name that resolves to 127.0.0.1 on this machine today
(an ``/etc/hosts`` entry, a DNS record) may resolve elsewhere tomorrow or on a worker, so it counts as
remote. ``localhost`` is trusted because resolvers are required to keep it on the loopback interface
(RFC 6761). Bootstrap entries are parsed by kafka-python's own parser, so the check judges exactly the
hosts the client dials first. It cannot see brokers the bootstrap host later advertises: a loopback
tunnel to a cluster that advertises remote plaintext listeners is the operator's responsibility.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sys
from typing import Callable, Iterator, Mapping, Optional

from pipeline.io.kafka import probe as kafka_probe
from pipeline.io.kafka.config import (
    ENV_PREFIX,
    KNOWN_VARIABLES,
    PLAINTEXT_PROTOCOLS,
    KafkaConfigError,
    PathLike,
    bootstrap_list,
    security_settings,
)
from pipeline.core.redaction import redact_text

log = logging.getLogger("newswire.kafka")

LOOPBACK_NAMES = ("localhost",)


def bootstrap_hosts(bootstrap_servers: str) -> list[str]:
    """The host of every bootstrap entry, as kafka-python parses it (``[::1]:9092`` -> ``::1``)."""
    from kafka.cluster import collect_hosts

    entries = bootstrap_list(bootstrap_servers)
    try:
        return [host for host, _port, _family in collect_hosts(entries, randomize=False)]
    except (ValueError, IndexError) as err:
        raise KafkaConfigError(f"cannot parse --bootstrap-servers {bootstrap_servers!r}: {err}") from None


def is_loopback(host: str) -> bool:
    """Literal loopback address or the name ``localhost``; never resolves a name."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def plaintext_refusal(bootstrap_servers: str, security_protocol: str) -> Optional[str]:
    """Why this connection must not be made without ``--allow-plaintext``, or None when it may."""
    hosts = bootstrap_hosts(bootstrap_servers)
    if not hosts:
        raise KafkaConfigError("--bootstrap-servers names no host")
    if security_protocol not in PLAINTEXT_PROTOCOLS:
        return None
    remote = [h for h in hosts if not is_loopback(h)]
    if not remote:
        return None
    what = "SASL credentials and every message" if security_protocol == "SASL_PLAINTEXT" else "every message"
    return (
        f"refusing a {security_protocol} (unencrypted) connection to {', '.join(dict.fromkeys(remote))}: "
        f"{what} would cross the network in clear text. Set NEWSWIRE_KAFKA_SECURITY_PROTOCOL=SSL or "
        f"SASL_SSL, or pass --allow-plaintext if this network is trusted."
    )


def preflight(bootstrap_servers: str, config_file: Optional[PathLike], allow_plaintext: bool) -> dict:
    """Validated security settings for these servers; raises :class:`KafkaConfigError` to refuse."""
    for name in sorted(n for n in os.environ if n.startswith(ENV_PREFIX) and n not in KNOWN_VARIABLES):
        log.warning("unknown_kafka_setting variable=%s (ignored; see README, Security)", name)
    settings = security_settings(config_file=config_file)
    refusal = plaintext_refusal(bootstrap_servers, settings["security_protocol"])
    if refusal and not allow_plaintext:
        raise KafkaConfigError(refusal)
    return settings



class KafkaStartupError(RuntimeError):
    """The first connection to Kafka failed; the message says why and never holds a secret."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _describe(settings: Mapping) -> str:
    protocol = settings.get("security_protocol", "PLAINTEXT")
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return f"{protocol}, {settings.get('sasl_mechanism')} as user {settings.get('sasl_plain_username')!r}"
    return protocol


def check_login(bootstrap_servers: str, settings: Mapping) -> None:
    """Refuse to start when a bootstrap broker itself rejects the TLS handshake or the SASL login.

    Servers are tried in order until one gives a verdict; when none does (all unreachable, say), the
    job goes on and kafka-python connects and retries as usual.
    """
    if settings.get("security_protocol", "PLAINTEXT") == "PLAINTEXT":
        return
    for server in bootstrap_list(bootstrap_servers):
        result = kafka_probe.probe_login(server, settings)
        log.debug("kafka_login_check server=%s outcome=%s detail=%s", server, result.outcome, result.detail)
        if result.outcome == kafka_probe.OK:
            return
        if result.outcome == kafka_probe.AUTH_FAILED:
            raise KafkaStartupError(
                f"Kafka at {server} rejected the login ({_describe(settings)}): {redact_text(result.detail)}. "
                f"Check NEWSWIRE_KAFKA_SASL_USERNAME and the password "
                f"(NEWSWIRE_KAFKA_SASL_PASSWORD or NEWSWIRE_KAFKA_SASL_PASSWORD_FILE).",
                exit_code=2,
            )
        if result.outcome == kafka_probe.MECHANISM_UNSUPPORTED:
            raise KafkaStartupError(
                f"Kafka at {server} does not accept this SASL mechanism: {result.detail}. "
                f"Set NEWSWIRE_KAFKA_SASL_MECHANISM accordingly.",
                exit_code=2,
            )
        if result.outcome == kafka_probe.TLS_FAILED:
            raise KafkaStartupError(
                f"TLS handshake with Kafka at {server} failed: {result.detail}. "
                f"Check NEWSWIRE_KAFKA_SSL_CAFILE and NEWSWIRE_KAFKA_SSL_CHECK_HOSTNAME.",
                exit_code=2,
            )


@contextlib.contextmanager
def first_connection(bootstrap_servers: str, settings: Mapping) -> Iterator[None]:
    """Report a Kafka client that cannot bootstrap as one clear line instead of a traceback."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as err:
        raise KafkaStartupError(
            f"cannot connect to Kafka at {bootstrap_servers} ({_describe(settings)}): {redact_text(str(err))}",
            exit_code=1,
        ) from None


def run_with_kafka(
    command: str,
    bootstrap_servers: str,
    config_file: Optional[PathLike],
    allow_plaintext: bool,
    action: Callable[[], int],
) -> int:
    """Start-up checks, then ``action``; a refusal or failed first connection is one line on stderr.

    Exit codes: 2 when the settings, the plaintext check or the broker refuse (restarting will not
    help), 1 when Kafka cannot be reached.
    """
    try:
        settings = preflight(bootstrap_servers, config_file, allow_plaintext)
        log.info("kafka_security %s", _describe(settings))
        check_login(bootstrap_servers, settings)
        with first_connection(bootstrap_servers, settings):
            return action()
    except KafkaConfigError as err:
        print(f"newswire {command}: {err}", file=sys.stderr)
        return 2
    except KafkaStartupError as err:
        print(f"newswire {command}: {err}", file=sys.stderr)
        return err.exit_code
