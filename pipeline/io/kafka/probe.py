"""One TLS + SASL login to a bootstrap broker, so that a rejected login is reported at once and by name.

kafka-python retries a rejected login until its bootstrap timeout and then raises a bare "Unable to
bootstrap"; the broker closes the socket right after its rejection, so the reason rarely reaches
kafka-python's log either. This probe performs the TLS handshake (with the SSL context kafka-python
would build) and the SASL exchange (with kafka-python's own mechanism classes) itself and reads the
broker's answer before the socket closes. It never sends anything but the login, and its verdict is
only trusted when the broker gave one: anything else (unreachable, an unexpected reply) is
``inconclusive`` and the job goes on to let kafka-python connect and retry as usual.
"""
from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Mapping

SASL_HANDSHAKE = 17  # api keys
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33  # error codes
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

OK = "ok"
AUTH_FAILED = "auth_failed"
MECHANISM_UNSUPPORTED = "mechanism_unsupported"
TLS_FAILED = "tls_failed"
INCONCLUSIVE = "inconclusive"

_CLIENT_ID = b"newswire-login-check"
_MAX_RESPONSE = 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    outcome: str
    server: str
    detail: str = ""


class _ProtocolError(Exception):
    pass


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes of a Kafka response (a response arrives in as many pieces as TCP likes)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return bytes(buf)


def _round_trip(sock: socket.socket, api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    """Send one request (header v1) and return the response body (after header v0)."""
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    if not 4 <= size <= _MAX_RESPONSE:
        raise _ProtocolError(f"implausible response size {size}")
    response = recv_exact(sock, size)
    if struct.unpack_from(">i", response)[0] != correlation_id:
        raise _ProtocolError("response correlation id mismatch")
    return response[4:]


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">h", len(data)) + data


def _read_string(data: bytes, offset: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", data, offset)
    offset += 2
    if length < 0:
        return None, offset
    return data[offset:offset + length].decode("utf-8", "replace"), offset + length


def _handshake(sock: socket.socket, mechanism: str) -> tuple[int, list[str]]:
    body = _round_trip(sock, SASL_HANDSHAKE, 1, 1, _string(mechanism))
    error_code, count = struct.unpack_from(">hi", body)
    offset, enabled = 6, []
    for _ in range(max(count, 0)):
        name, offset = _read_string(body, offset)
        enabled.append(name or "")
    return error_code, enabled


def _authenticate(sock: socket.socket, correlation_id: int, token: bytes) -> tuple[int, str, bytes]:
    body = _round_trip(sock, SASL_AUTHENTICATE, 1, correlation_id, struct.pack(">i", len(token)) + token)
    (error_code,) = struct.unpack_from(">h", body)
    message, offset = _read_string(body, 2)
    (length,) = struct.unpack_from(">i", body, offset)
    offset += 4
    return error_code, message or "", body[offset:offset + max(length, 0)]


def _ssl_context(settings: Mapping) -> ssl.SSLContext:
    from kafka.net.transport import KafkaSSLTransport

    config = dict(KafkaSSLTransport.DEFAULT_CONFIG)
    config.update({k: v for k, v in settings.items() if k in config})
    return KafkaSSLTransport._build_ssl_context(config)


def _login(sock: socket.socket, settings: Mapping, host: str) -> tuple[str, str]:
    from kafka.net.sasl import get_sasl_mechanism

    mechanism_name = settings["sasl_mechanism"]
    error_code, enabled = _handshake(sock, mechanism_name)
    if error_code == UNSUPPORTED_SASL_MECHANISM:
        return MECHANISM_UNSUPPORTED, f"the broker offers {', '.join(enabled) or 'no mechanism'}, not {mechanism_name}"
    if error_code:
        return INCONCLUSIVE, f"SaslHandshake error {error_code}"
    mechanism = get_sasl_mechanism(mechanism_name)(host=host, **settings)
    correlation_id = 2
    while not mechanism.is_done():
        error_code, message, reply = _authenticate(sock, correlation_id, mechanism.auth_bytes())
        correlation_id += 1
        if error_code in (SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE):
            return AUTH_FAILED, message or f"error {error_code}"
        if error_code:
            return INCONCLUSIVE, f"SaslAuthenticate error {error_code}"
        try:
            mechanism.receive(reply)
        except ValueError as err:  # SCRAM: the broker's signature did not verify
            return AUTH_FAILED, f"the broker failed SCRAM server authentication ({err})"
    return (OK, "") if mechanism.is_authenticated() else (AUTH_FAILED, "the broker did not accept the login")


def probe_login(server: str, settings: Mapping, timeout: float = 10.0) -> ProbeResult:
    """Connect to one ``host:port``, do TLS and SASL as ``settings`` say, and report the broker's verdict."""
    from kafka.cluster import get_ip_port_afi

    host, port, _family = get_ip_port_afi(server.split("://")[-1])
    protocol = settings.get("security_protocol", "PLAINTEXT")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        return ProbeResult(INCONCLUSIVE, server, f"cannot connect: {err}")
    try:
        sock.settimeout(timeout)
        if protocol in ("SSL", "SASL_SSL"):
            try:
                sock = _ssl_context(settings).wrap_socket(sock, server_hostname=host.rstrip("."))
            except ssl.SSLCertVerificationError as err:  # the broker's certificate: a verdict
                return ProbeResult(TLS_FAILED, server, err.verify_message or str(err))
            except ssl.SSLError as err:  # e.g. an EOF mid-handshake: may be the network
                return ProbeResult(INCONCLUSIVE, server, f"TLS: {err.reason or err}")
        if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
            return ProbeResult(OK, server)
        outcome, detail = _login(sock, settings, host)
        return ProbeResult(outcome, server, detail)
    except (OSError, struct.error, KeyError, UnicodeDecodeError, _ProtocolError) as err:
        return ProbeResult(INCONCLUSIVE, server, f"{type(err).__name__}: {err}")
    finally:
        sock.close()
