"""Real object stores on loopback for the tests: moto's S3 server and a GCS JSON-API emulator.

Both are PyPI test dependencies started as subprocesses on free ports, once per test session. Each
test gets a fresh bucket and an environment that points the job (and any subprocess it starts) at
the local endpoint with throwaway credentials, exactly as an operator would configure MinIO or an
emulator: through the environment, never through argv.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from pipeline.ops.broker import free_port

START_TIMEOUT = 60.0


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT}s:\n{log.read_text(errors='replace')[-3000:]}")


def _serve(args: list[str], port: int, log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> str:
    """``http://127.0.0.1:PORT`` of a moto S3 server (real HTTP, real multipart uploads and listings)."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    yield from _serve(["moto.server", "-H", "127.0.0.1", "-p", str(port)], port, log)


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory) -> str:
    """``http://127.0.0.1:PORT`` of gcp-storage-emulator (the GCS JSON API, in memory)."""
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    yield from _serve(
        ["gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"], port, log
    )


def new_bucket_name() -> str:
    return f"newswire-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket, and the environment every newswire process uses to reach it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "newswire-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "newswire-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NEWSWIRE_S3_ENDPOINT", s3_endpoint)
    bucket = new_bucket_name()
    admin = pafs.S3FileSystem(
        endpoint_override=s3_endpoint.split("://", 1)[1], scheme="http", region="us-east-1",
        access_key="newswire-test", secret_key="newswire-test-secret", allow_bucket_creation=True,
    )
    admin.create_dir(bucket)
    return bucket


@pytest.fixture
def gcs_bucket(gcs_endpoint, monkeypatch) -> str:
    """A fresh bucket in the emulator; STORAGE_EMULATOR_HOST points every newswire process at it."""
    monkeypatch.delenv("NEWSWIRE_GCS_ENDPOINT", raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    bucket = new_bucket_name()
    admin = pafs.GcsFileSystem(endpoint_override=gcs_endpoint.split("://", 1)[1], scheme="http", anonymous=True,
                               project_id="newswire-test")
    admin.create_dir(bucket)
    return bucket


@pytest.fixture(params=["s3", "gs"])
def object_lake_uri(request) -> str:
    """``s3://…/lake`` or ``gs://…/lake`` in a fresh bucket of a local server."""
    bucket = request.getfixturevalue("s3_bucket" if request.param == "s3" else "gcs_bucket")
    return f"{request.param}://{bucket}/lake"
