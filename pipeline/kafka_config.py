"""Kafka client settings. Security options come from the environment (or files it names), never argv.

The Beam graph carries only the bootstrap servers; each worker resolves credentials from its own
environment when its DoFn starts, so secrets are never pickled into the pipeline.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

ENV_PREFIX = "NEWSWIRE_KAFKA_"

# environment variable suffix -> kafka-python setting
_PLAIN_SETTINGS = {
    "SECURITY_PROTOCOL": "security_protocol",
    "SASL_MECHANISM": "sasl_mechanism",
    "SASL_USERNAME": "sasl_plain_username",
    "SSL_CAFILE": "ssl_cafile",
    "SSL_CERTFILE": "ssl_certfile",
    "SSL_KEYFILE": "ssl_keyfile",
}
_SECRET_SETTINGS = {
    "SASL_PASSWORD": "sasl_plain_password",
    "SSL_PASSWORD": "ssl_password",
}


def security_settings(env: Optional[Mapping[str, str]] = None) -> dict:
    """kafka-python keyword arguments for SASL/TLS from ``NEWSWIRE_KAFKA_*`` variables.

    A secret ``X`` may be given as ``NEWSWIRE_KAFKA_X`` or as a path in ``NEWSWIRE_KAFKA_X_FILE``
    (the form Kubernetes and Docker secrets mount).
    """
    env = os.environ if env is None else env
    settings: dict = {}
    for suffix, key in _PLAIN_SETTINGS.items():
        value = env.get(ENV_PREFIX + suffix)
        if value:
            settings[key] = value.upper() if suffix in ("SECURITY_PROTOCOL", "SASL_MECHANISM") else value
    for suffix, key in _SECRET_SETTINGS.items():
        value = env.get(ENV_PREFIX + suffix)
        path = env.get(ENV_PREFIX + suffix + "_FILE")
        if not value and path:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        if value:
            settings[key] = value
    return settings


def client_settings(bootstrap_servers: str, env: Optional[Mapping[str, str]] = None, **extra) -> dict:
    """Complete kafka-python keyword arguments for any client this project creates."""
    settings = {
        "bootstrap_servers": [s.strip() for s in bootstrap_servers.split(",") if s.strip()],
        "client_id": "newswire",
        "request_timeout_ms": 30000,
        "retry_backoff_ms": 200,
        "reconnect_backoff_max_ms": 5000,
    }
    settings.update(security_settings(env))
    settings.update(extra)
    return settings


def redact(settings: Mapping) -> dict:
    """A copy safe to log."""
    return {k: ("***" if k in _SECRET_SETTINGS.values() else v) for k, v in settings.items()}
