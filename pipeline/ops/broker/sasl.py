"""A SASL_PLAINTEXT listener for the local development broker (``newswire broker start --sasl-port``).

It lets tests and developers exercise real SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
without a production cluster. The user and password come from the same variables the job reads
(``NEWSWIRE_KAFKA_SASL_USERNAME`` and ``NEWSWIRE_KAFKA_SASL_PASSWORD`` or ``..._FILE``, or a
``--kafka-config`` file), never from argv: the PLAIN password goes into the broker's own
``server.properties`` (written mode 0600), the SCRAM credentials are created through the Admin API
(salted client-side, so the password never crosses the wire, not even to the local broker) on the
broker's unauthenticated loopback listener once it is up.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pipeline.io.kafka.config import ENV_PREFIX, KafkaConfigError, PathLike, raw_security_settings

log = logging.getLogger(__name__)

LISTENER = "SASL_PLAINTEXT"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 8192


@dataclass(frozen=True)
class SaslUser:
    """The one user the development broker's SASL listener accepts."""

    name: str
    password: str = field(repr=False)


def user_from_settings(env: Optional[Mapping[str, str]] = None, config_file: Optional[PathLike] = None) -> SaslUser:
    """The SASL user named by ``NEWSWIRE_KAFKA_SASL_USERNAME`` and its password (env, file or settings file)."""
    settings = raw_security_settings(env, config_file)
    name, password = settings.get("sasl_plain_username"), settings.get("sasl_plain_password")
    if not name or not password:
        raise KafkaConfigError(
            f"a SASL listener needs {ENV_PREFIX}SASL_USERNAME and {ENV_PREFIX}SASL_PASSWORD "
            f"(or {ENV_PREFIX}SASL_PASSWORD_FILE), in the environment or in --kafka-config"
        )
    if any(c in name for c in "\"\\=,\n\r") or not name.isprintable():
        raise KafkaConfigError(f"{ENV_PREFIX}SASL_USERNAME may not contain quotes, backslashes, '=', ',' or control characters")
    return SaslUser(name, password)


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _props_value(value: str) -> str:
    """Escape a value for a Java .properties file: one logical line, ASCII (Kafka reads it as ISO-8859-1)."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    out = "".join(c if " " <= c <= "~" else _unicode_escape(c) for c in out)
    return "\\ " + out[1:] if out.startswith(" ") else out


def _unicode_escape(char: str) -> str:
    data = char.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(data[i:i + 2], 'big'):04x}" for i in range(0, len(data), 2))


def sasl_listener_properties(user: SaslUser) -> list[str]:
    """server.properties lines enabling the three mechanisms on the SASL_PLAINTEXT listener."""
    prefix = f"listener.name.{LISTENER.lower()}"
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f"user_{user.name}={_jaas_quote(user.password)};"
    )
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return [
        f"sasl.enabled.mechanisms={','.join(MECHANISMS)}",
        f"{prefix}.plain.sasl.jaas.config={_props_value(plain)}",
        f"{prefix}.scram-sha-256.sasl.jaas.config={scram}",
        f"{prefix}.scram-sha-512.sasl.jaas.config={scram}",
    ]


def create_scram_credentials(plaintext_bootstrap: str, user: SaslUser) -> None:
    """Create (or replace) the user's SCRAM-SHA-256 and SCRAM-SHA-512 credentials on the broker."""
    from kafka import KafkaAdminClient
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    admin = KafkaAdminClient(bootstrap_servers=plaintext_bootstrap, client_id="newswire-broker-setup")
    try:
        # One request per mechanism: the broker refuses two alterations of one user in a request.
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            upsert = UserScramCredentialUpsertion(user.name, mechanism, user.password, iterations=SCRAM_ITERATIONS)
            error = admin.alter_user_scram_credentials([upsert]).get(user.name)
            if error:
                raise RuntimeError(f"creating the {mechanism.name} credential of {user.name} failed: {error}")
    finally:
        admin.close()
    log.info("scram_credentials_created user=%s mechanisms=SCRAM-SHA-256,SCRAM-SHA-512", user.name)
