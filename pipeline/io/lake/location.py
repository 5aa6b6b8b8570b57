"""Lake locations: a local path, or a validated ``s3://`` / ``gs://`` URI and its pyarrow filesystem.

Credentials never come from the location (a URI with ``user:secret@`` is refused); see
:mod:`pipeline.io.lake.storage` for where they and the endpoints come from.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePath, PurePosixPath
from typing import Mapping, Optional, Union
from urllib.parse import urlsplit

import pyarrow.fs as pafs

S3_SCHEMES = ("s3",)
GCS_SCHEMES = ("gs", "gcs")
_URI_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# S3 and GCS bucket names: lower-case letters, digits, dots, dashes (GCS also underscores), 3..222 chars.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
# Prefix segments are kept to characters that mean the same thing as a key, a path and a URI.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9._=+-]{1,255}")
GCS_RETRY_LIMIT = timedelta(seconds=60)  # a batch that fails is retried by the driver anyway

LakeLocation = Union[str, PurePath]


class LocalLakeRequired(ValueError):
    """An operation that needs a local lake (rename, file locks) was asked of an object-store lake."""


@dataclass(frozen=True)
class ObjectStoreURI:
    """A validated ``scheme://bucket/prefix`` lake location."""

    scheme: str  # "s3" or "gs"
    bucket: str
    prefix: str  # "" (bucket root) or "a/b", never with a leading or trailing slash

    @property
    def root(self) -> PurePosixPath:
        """The lake root as a pyarrow filesystem path (``bucket/prefix``)."""
        return PurePosixPath(self.bucket, self.prefix) if self.prefix else PurePosixPath(self.bucket)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.root}"


def is_object_store_uri(location: LakeLocation) -> bool:
    """True for ``s3://`` and ``gs://`` locations (a ``Path`` is always local)."""
    if not isinstance(location, str):
        return False
    m = _URI_RE.match(location)
    return bool(m) and m["scheme"].lower() in S3_SCHEMES + GCS_SCHEMES


def parse_object_store_uri(text: str) -> ObjectStoreURI:
    """Validate an object-store lake location; refuses credentials, queries and odd path segments."""
    m = _URI_RE.match(text)
    if not m:
        raise ValueError(f"not an object-store URI: {text!r}")
    scheme = m["scheme"].lower()
    if scheme not in S3_SCHEMES + GCS_SCHEMES:
        raise ValueError(f"unsupported lake URI scheme {scheme!r}: use a local path, s3://bucket/prefix or gs://bucket/prefix")
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ValueError("credentials in a lake URI are refused (they would be visible in argv and logs): "
                         "use the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS)")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("a lake URI takes no query or fragment; endpoints and options come from the environment")
    bucket = parts.netloc
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"not a valid bucket name: {bucket!r}")
    path = parts.path.strip("/")
    segments = path.split("/") if path else []
    for segment in segments:
        if not _SEGMENT_RE.fullmatch(segment) or segment in (".", ".."):
            raise ValueError(f"invalid lake prefix segment {segment!r} in {text!r} (allowed: A-Z a-z 0-9 . _ = + -)")
    return ObjectStoreURI(scheme="gs" if scheme in GCS_SCHEMES else "s3", bucket=bucket, prefix="/".join(segments))


def lake_location(text: str) -> LakeLocation:
    """``--lake`` argument type: a normalised ``s3://``/``gs://`` URI string, or a local ``Path``."""
    if _URI_RE.match(text):
        return str(parse_object_store_uri(text))
    return Path(text)


# -- filesystems ------------------------------------------------------------------------------


def _endpoint(value: str) -> tuple[str, str]:
    """``http://host:port`` -> (``host:port``, ``http``); a bare ``host:port`` means https."""
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ValueError(f"endpoint must be http(s)://host[:port], got {value!r}")
        return parts.netloc, parts.scheme
    return value.strip("/"), "https"


def s3_options(env: Mapping[str, str]) -> dict:
    """``S3FileSystem`` keyword arguments from the environment (credentials stay with the AWS chain).

    Without a region or an endpoint in the environment, the bucket's region is looked up once (AWS).
    """
    options: dict = {}
    endpoint = env.get("NEWSWIRE_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_override"], options["scheme"] = _endpoint(endpoint)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    elif endpoint:
        options["region"] = "us-east-1"  # S3-compatible stores ignore it, but the signer needs one
    return options


def gcs_options(env: Mapping[str, str]) -> dict:
    """``GcsFileSystem`` keyword arguments from the environment (credentials: Application Default Credentials)."""
    options: dict = {"retry_time_limit": GCS_RETRY_LIMIT}
    endpoint = env.get("NEWSWIRE_GCS_ENDPOINT")
    emulator = env.get("STORAGE_EMULATOR_HOST")
    if endpoint or emulator:
        options["endpoint_override"], options["scheme"] = _endpoint(endpoint or emulator)
    if emulator and not endpoint:
        options["anonymous"] = True  # what STORAGE_EMULATOR_HOST means to every Google client library
    if env.get("GOOGLE_CLOUD_PROJECT"):
        options["project_id"] = env["GOOGLE_CLOUD_PROJECT"]
    return options


_FILESYSTEMS: dict[tuple, pafs.FileSystem] = {}
_FILESYSTEMS_LOCK = threading.Lock()


def object_filesystem(uri: ObjectStoreURI, env: Optional[Mapping[str, str]] = None) -> pafs.FileSystem:
    """The pyarrow filesystem of a bucket, one per process and settings (Beam DoFns open many layouts)."""
    env = os.environ if env is None else env
    with _FILESYSTEMS_LOCK:
        if uri.scheme == "s3":
            options = s3_options(env)
            key = ("s3", uri.bucket, tuple(sorted(options.items())))
        else:
            options = gcs_options(env)
            key = ("gs", tuple(sorted((k, str(v)) for k, v in options.items())))
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            if uri.scheme == "s3":
                if "region" not in options:
                    options["region"] = pafs.resolve_s3_region(uri.bucket)
                fs = pafs.S3FileSystem(**options)
            else:
                fs = pafs.GcsFileSystem(**options)
            _FILESYSTEMS[key] = fs
        return fs


def looks_like_uri(location: LakeLocation) -> bool:
    """A ``scheme://`` string: either an object store or a scheme the lake cannot use."""
    return isinstance(location, str) and bool(_URI_RE.match(location))
