"""TLS settings end to end: NEWSWIRE_KAFKA_SSL_* variables -> kafka-python's SSL context -> a real handshake.

A local TLS server with a certificate for ``localhost`` (signed by a test CA) stands in for a broker's
TLS layer: the start-up login check performs only the TLS handshake for ``SSL``, so this exercises
exactly what the job does with the CA file and the hostname check before it talks Kafka.
"""
from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.io.kafka import probe as kafka_probe
from pipeline.io.kafka.config import ENV_PREFIX, security_settings
from pipeline.io.kafka.security import KafkaStartupError, check_login

P = ENV_PREFIX


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A TLS server on 127.0.0.1 whose certificate names only ``localhost``; yields (port, CA file, other CA file)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _ca("newswire test CA")
    _other_key, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "server.pem").write_bytes(_pem(cert))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    (folder / "ca.pem").write_bytes(_pem(ca_cert))
    (folder / "other-ca.pem").write_bytes(_pem(other_cert))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass  # handshake done; the client only checks TLS
                except (ssl.SSLError, OSError):
                    pass  # the client rejected our certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, str(folder / "ca.pem"), str(folder / "other-ca.pem")
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def tls_settings(**variables: str) -> dict:
    return security_settings({P + "SECURITY_PROTOCOL": "SSL", **{P + k: v for k, v in variables.items()}})


def test_trusted_ca_and_matching_host_name(tls_server):
    port, ca, _other = tls_server
    result = kafka_probe.probe_login(f"localhost:{port}", tls_settings(SSL_CAFILE=ca))
    assert result.outcome == kafka_probe.OK, result


def test_host_name_mismatch_is_refused_by_default(tls_server):
    port, ca, _other = tls_server
    result = kafka_probe.probe_login(f"127.0.0.1:{port}", tls_settings(SSL_CAFILE=ca))
    assert result.outcome == kafka_probe.TLS_FAILED
    assert "mismatch" in result.detail.lower()


def test_check_hostname_false_accepts_the_mismatch_but_still_verifies_the_chain(tls_server):
    port, ca, other = tls_server
    relaxed = kafka_probe.probe_login(f"127.0.0.1:{port}", tls_settings(SSL_CAFILE=ca, SSL_CHECK_HOSTNAME="false"))
    assert relaxed.outcome == kafka_probe.OK, relaxed
    untrusted = kafka_probe.probe_login(f"127.0.0.1:{port}", tls_settings(SSL_CAFILE=other, SSL_CHECK_HOSTNAME="false"))
    assert untrusted.outcome == kafka_probe.TLS_FAILED
    assert "unable to get local issuer certificate" in untrusted.detail


def test_untrusted_certificate_stops_the_job_with_a_clear_message(tls_server):
    port, _ca, other = tls_server
    with pytest.raises(KafkaStartupError) as err:
        check_login(f"localhost:{port}", tls_settings(SSL_CAFILE=other))
    assert err.value.exit_code == 2
    assert str(err.value).startswith(f"TLS handshake with Kafka at localhost:{port} failed: unable to get local issuer")
    assert "NEWSWIRE_KAFKA_SSL_CAFILE" in str(err.value)
