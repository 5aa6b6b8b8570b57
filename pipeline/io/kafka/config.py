"""Kafka client settings. Security options come from the environment or a settings file, never argv.

Every setting is a ``NEWSWIRE_KAFKA_*`` variable, given in the environment or in a settings file named by
``--kafka-config FILE`` (same names, ``NAME=value`` lines: the format of systemd's ``EnvironmentFile``,
so one file serves both). A secret ``X`` may instead be a path in ``NEWSWIRE_KAFKA_X_FILE`` (the form
Kubernetes and Docker secrets mount). The values are validated before any client is created; errors
name the setting and never print a secret.

The Beam graph carries only the bootstrap servers and the settings file's path; each worker resolves
credentials from its own environment (and that file) when its DoFn starts, so secrets are never pickled
into the pipeline. Every secret read is registered with :mod:`pipeline.core.redaction` in the process that
reads it.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Mapping, Optional, Union

from pipeline.core import redaction

ENV_PREFIX = "NEWSWIRE_KAFKA_"
FILE_SUFFIX = "_FILE"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PLAINTEXT_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT")  # nothing on the wire is encrypted
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")

# variable suffix -> kafka-python setting
_PLAIN_SETTINGS = {
    "SECURITY_PROTOCOL": "security_protocol",
    "SASL_MECHANISM": "sasl_mechanism",
    "SASL_USERNAME": "sasl_plain_username",
    "SSL_CAFILE": "ssl_cafile",
    "SSL_CERTFILE": "ssl_certfile",
    "SSL_KEYFILE": "ssl_keyfile",
    "SSL_CRLFILE": "ssl_crlfile",
    "SSL_CHECK_HOSTNAME": "ssl_check_hostname",
}
_SECRET_SETTINGS = {
    "SASL_PASSWORD": "sasl_plain_password",
    "SSL_PASSWORD": "ssl_password",
}
_SETTING_VARIABLE = {key: ENV_PREFIX + suffix for suffix, key in {**_PLAIN_SETTINGS, **_SECRET_SETTINGS}.items()}
KNOWN_VARIABLES = frozenset(
    [ENV_PREFIX + s for s in _PLAIN_SETTINGS]
    + [ENV_PREFIX + s + tail for s in _SECRET_SETTINGS for tail in ("", FILE_SUFFIX)]
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SASL_KEYS = ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
_SSL_KEYS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile", "ssl_check_hostname", "ssl_password")

log = logging.getLogger("newswire.kafka")

PathLike = Union[str, os.PathLike]


class KafkaConfigError(ValueError):
    """A Kafka security setting is missing, unknown or invalid. The message names it, never a secret."""


def read_config_file(path: PathLike) -> dict[str, str]:
    """``NEWSWIRE_KAFKA_*`` variables of a settings file: ``NAME=value`` lines, ``#`` comments.

    An optional ``export`` prefix and one pair of quotes around a value are removed. Unknown names are
    an error (a typo must not silently drop a setting); values are never echoed in errors.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise KafkaConfigError(f"cannot read Kafka settings file {path}: {_reason(err)}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"^export\s+", "", line)
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise KafkaConfigError(f"{path}, line {number}: expected NAME=value")
        if name not in KNOWN_VARIABLES:
            raise KafkaConfigError(
                f"{path}, line {number}: unknown setting {name} (known: {', '.join(sorted(KNOWN_VARIABLES))})"
            )
        if name in values:
            raise KafkaConfigError(f"{path}, line {number}: {name} is set twice")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    if any(values.get(ENV_PREFIX + s) for s in _SECRET_SETTINGS) and path.stat().st_mode & 0o077:
        log.warning("kafka_settings_file_readable_by_others path=%s: it holds a password; chmod 600 it", path)
    return values


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__


def _merged_variables(env: Mapping[str, str], config_file: Optional[PathLike]) -> dict[str, str]:
    """The non-empty ``NEWSWIRE_KAFKA_*`` variables of the environment and the settings file.

    A variable set to different values in both places is an error: which one wins would be a guess.
    """
    merged = {k: v for k, v in env.items() if k in KNOWN_VARIABLES and v}
    if config_file is not None:
        for name, value in read_config_file(config_file).items():
            if not value:
                continue
            if name in merged and merged[name] != value:
                raise KafkaConfigError(
                    f"{name} is set both in the environment and in {config_file}, differently; remove one"
                )
            merged[name] = value
    return merged


def _secret(variables: Mapping[str, str], suffix: str) -> Optional[str]:
    name = ENV_PREFIX + suffix
    value, path = variables.get(name), variables.get(name + FILE_SUFFIX)
    if value and path:
        raise KafkaConfigError(f"both {name} and {name}{FILE_SUFFIX} are set; use one")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as err:
            raise KafkaConfigError(f"cannot read {name}{FILE_SUFFIX} ({path}): {_reason(err)}") from None
    if value:
        redaction.register_secret(value)
    return value or None


def raw_security_settings(env: Optional[Mapping[str, str]] = None, config_file: Optional[PathLike] = None) -> dict:
    """kafka-python keyword arguments named by the variables, read but not yet validated."""
    env = os.environ if env is None else env
    variables = _merged_variables(env, config_file)
    settings: dict = {}
    for suffix, key in _PLAIN_SETTINGS.items():
        value = variables.get(ENV_PREFIX + suffix)
        if value:
            settings[key] = value.strip().upper() if suffix in ("SECURITY_PROTOCOL", "SASL_MECHANISM") else value
    for suffix, key in _SECRET_SETTINGS.items():
        value = _secret(variables, suffix)
        if value:
            settings[key] = value
    return settings


def validate_security(settings: dict) -> dict:
    """Check the combination and the values; returns ``settings`` with typed values.

    A setting that the protocol would ignore is an error too (SASL credentials with ``SSL``, a CA file
    with ``SASL_PLAINTEXT``): silently running without the authentication or encryption the operator
    asked for is the failure this prevents.
    """
    name = _SETTING_VARIABLE
    protocol = settings.get("security_protocol", "PLAINTEXT")
    if protocol not in SECURITY_PROTOCOLS:
        raise KafkaConfigError(
            f"{name['security_protocol']} must be one of {', '.join(SECURITY_PROTOCOLS)}, not {protocol!r}"
        )
    if protocol in SASL_PROTOCOLS:
        mechanism = settings.get("sasl_mechanism")
        if mechanism is None:
            raise KafkaConfigError(
                f"{name['sasl_mechanism']} is required with {protocol}: one of {', '.join(SASL_MECHANISMS)}"
            )
        if mechanism not in SASL_MECHANISMS:
            raise KafkaConfigError(f"{name['sasl_mechanism']} must be one of {', '.join(SASL_MECHANISMS)}, not {mechanism!r}")
        if not settings.get("sasl_plain_username"):
            raise KafkaConfigError(f"{name['sasl_plain_username']} is required with {protocol}")
        if not settings.get("sasl_plain_password"):
            raise KafkaConfigError(
                f"{name['sasl_plain_password']} or {name['sasl_plain_password']}{FILE_SUFFIX} is required with {protocol}"
            )
    else:
        _refuse_unused(settings, _SASL_KEYS, protocol, "SASL_PLAINTEXT or SASL_SSL")
    if protocol in SSL_PROTOCOLS:
        if "ssl_check_hostname" in settings:
            settings["ssl_check_hostname"] = _parse_bool(settings["ssl_check_hostname"], name["ssl_check_hostname"])
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile"):
            if key in settings and not os.access(settings[key], os.R_OK):
                what = "no such file" if not os.path.exists(settings[key]) else "not readable"
                raise KafkaConfigError(f"{name[key]}: {what}: {settings[key]}")
            if key in settings and not os.path.isfile(settings[key]):
                raise KafkaConfigError(f"{name[key]}: not a file: {settings[key]}")
        if "ssl_keyfile" in settings and "ssl_certfile" not in settings:
            raise KafkaConfigError(f"{name['ssl_keyfile']} needs {name['ssl_certfile']} (the client certificate)")
        if "ssl_password" in settings and "ssl_certfile" not in settings:
            raise KafkaConfigError(f"{name['ssl_password']} is the client key's password and needs {name['ssl_certfile']}")
    else:
        _refuse_unused(settings, _SSL_KEYS, protocol, "SSL or SASL_SSL")
    settings["security_protocol"] = protocol
    return settings


def _refuse_unused(settings: Mapping, keys: tuple, protocol: str, needs: str) -> None:
    given = [_SETTING_VARIABLE[k] for k in keys if k in settings]
    if given:
        raise KafkaConfigError(
            f"{', '.join(given)} given but {_SETTING_VARIABLE['security_protocol']} is {protocol}, "
            f"which does not use them; set it to {needs}"
        )


def _parse_bool(value: Union[str, bool], variable: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise KafkaConfigError(f"{variable} must be true or false, not {value!r}")


def security_settings(env: Optional[Mapping[str, str]] = None, config_file: Optional[PathLike] = None) -> dict:
    """Validated kafka-python keyword arguments for SASL/TLS (``security_protocol`` always present)."""
    return validate_security(raw_security_settings(env, config_file))


def bootstrap_list(bootstrap_servers: str) -> list[str]:
    return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]


def client_settings(
    bootstrap_servers: str,
    env: Optional[Mapping[str, str]] = None,
    config_file: Optional[PathLike] = None,
    **extra,
) -> dict:
    """Complete kafka-python keyword arguments for any client this project creates."""
    settings = {
        "bootstrap_servers": bootstrap_list(bootstrap_servers),
        "client_id": "newswire",
        "request_timeout_ms": 30000,
        "retry_backoff_ms": 200,
        "reconnect_backoff_max_ms": 5000,
    }
    settings.update(security_settings(env, config_file))
    settings.update(extra)
    return settings


def redact(settings: Mapping) -> dict:
    """A copy safe to log."""
    return {k: ("***" if k in _SECRET_SETTINGS.values() else v) for k, v in settings.items()}
