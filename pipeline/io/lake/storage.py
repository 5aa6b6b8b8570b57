"""Where a lake's files live: a local folder, or a prefix of an S3 or GCS bucket (``s3://``, ``gs://``).

Everything that reads or writes a lake goes through the ``storage`` its :class:`~pipeline.io.lake.layout.LakeLayout`
carries, so the commit protocol (data files -> state deltas -> commit-log entry) is written once and
holds on both kinds of store:

* :class:`LocalStorage` keeps the original protocol: files are fsynced in ``_newswire/staging`` and
  renamed into place; metadata files are replaced by an atomic rename.
* :class:`ObjectStorage` has no rename and no fsync. Instead every object is written by ONE upload
  from a finished local file, and an upload becomes visible whole or not at all (S3 PutObject /
  CompleteMultipartUpload, GCS object finalisation). Staging is a local folder; publishing uploads
  each finished file under its final, deterministic name, so a replayed batch overwrites the same
  names with the same bytes. The commit-log entry is uploaded only after every data and state
  object of the batch has been acknowledged, and S3 and GCS list and read after write consistently,
  so the commit log stays the single point at which a batch becomes done.

What object stores cannot give is an atomic multi-object publish: between the first data upload of a
batch and its commit entry, a reader that lists the bucket sees some of the batch's files. Readers
that go through ``newswire sql`` filter those out (see :mod:`pipeline.io.lake.reader`).

Credentials never come from the lake location (a URI with ``user:secret@`` is refused): they come
from the standard environment (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``) or pyarrow's default
provider chains. Endpoints of S3-compatible stores (MinIO, moto) and GCS emulators come from the
environment too: ``NEWSWIRE_S3_ENDPOINT`` (else ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``) and
``NEWSWIRE_GCS_ENDPOINT`` (else ``STORAGE_EMULATOR_HOST``, which also means anonymous access).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePath, PurePosixPath
from typing import Iterable, Mapping, Optional, Sequence, Union
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.io.lake import layout as lake

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


# -- storages ---------------------------------------------------------------------------------


class LocalStorage:
    """A lake in a local (or mounted POSIX) folder: fsync + atomic rename, as lake.py has always done."""

    is_local = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def cache_key(self) -> str:
        return str(self.root.resolve())

    @property
    def staging_root(self) -> Path:
        """Inside the lake (same file system, so publishing is a rename) but outside every dataset glob."""
        return self.root / lake.META_DIR / "staging"

    def prepare(self, directories: Iterable[PurePath]) -> None:
        for d in directories:
            Path(d).mkdir(parents=True, exist_ok=True)

    def exists(self, path: PurePath) -> bool:
        return Path(path).exists()

    def list_names(self, directory: PurePath) -> list[str]:
        d = Path(directory)
        return [p.name for p in d.iterdir()] if d.is_dir() else []

    def file_stats(self, directory: PurePath) -> list[tuple[str, int, int]]:
        """(name, size, mtime in ns) of the files in a folder; a file deleted meanwhile is left out."""
        d = Path(directory)
        found = []
        for p in d.iterdir() if d.is_dir() else ():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            found.append((p.name, st.st_size, st.st_mtime_ns))
        return found

    def parquet_rows(self, path: PurePath) -> int:
        return pq.read_metadata(Path(path)).num_rows

    def read_text(self, path: PurePath) -> str:
        return Path(path).read_text(encoding="utf-8")

    def write_text(self, path: PurePath, text: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        lake.write_json_durable(Path(path), text)

    def read_table(self, path: PurePath) -> pa.Table:
        return pq.read_table(Path(path))

    def write_table(self, table: pa.Table, path: PurePath) -> None:
        lake.write_parquet_durable(table, Path(path))

    def publish_file(self, local: Path, path: PurePath) -> None:
        """Move a finished staged file to its place in the lake, durably."""
        target = Path(path)
        lake.makedirs_durable(target.parent)
        shutil.move(str(local), str(target))
        lake.fsync_dir(target.parent)

    def delete(self, path: PurePath) -> None:
        Path(path).unlink(missing_ok=True)


class ObjectStorage:
    """A lake under ``bucket/prefix`` of an object store, through a pyarrow filesystem.

    Every write is one upload of a complete local file by ``pyarrow.fs.copy_files`` (a single call
    into Arrow, so no Python exception or signal can land between opening the object and writing all
    of it; an upload that fails is never completed, so it never becomes visible).
    """

    is_local = False

    def __init__(self, uri: ObjectStoreURI, filesystem: Optional[pafs.FileSystem] = None) -> None:
        self.uri = uri
        self.fs = filesystem if filesystem is not None else object_filesystem(uri)
        self._local = pafs.LocalFileSystem()
        base = os.environ.get("NEWSWIRE_STAGING_DIR") or Path(tempfile.gettempdir()) / "newswire-staging"
        self._staging_root = Path(base) / hashlib.sha256(str(uri).encode()).hexdigest()[:16]

    @property
    def root(self) -> PurePosixPath:
        return self.uri.root

    @property
    def location(self) -> str:
        return str(self.uri)

    @property
    def cache_key(self) -> str:
        return str(self.uri)

    @property
    def staging_root(self) -> Path:
        """A local folder: batches are written there first and uploaded file by file."""
        return self._staging_root

    def _key(self, path: PurePath) -> str:
        key = PurePosixPath(path)
        if key != self.root and self.root not in key.parents:
            raise ValueError(f"{path} is outside the lake {self.uri}")
        return str(key)

    def prepare(self, directories: Iterable[PurePath]) -> None:
        """Object stores have no folders to create; check once that the bucket is there and reachable."""
        info = self.fs.get_file_info(self.uri.bucket)
        if info.type != pafs.FileType.Directory:
            raise FileNotFoundError(f"bucket {self.uri.bucket!r} of lake {self.uri} does not exist or is not accessible")

    def exists(self, path: PurePath) -> bool:
        return self.fs.get_file_info(self._key(path)).type == pafs.FileType.File

    def list_names(self, directory: PurePath) -> list[str]:
        selector = pafs.FileSelector(self._key(directory), recursive=False, allow_not_found=True)
        return [info.base_name for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]

    def file_stats(self, directory: PurePath) -> list[tuple[str, int, int]]:
        """(name, size, mtime in ns) of the objects directly under a folder."""
        selector = pafs.FileSelector(self._key(directory), recursive=False, allow_not_found=True)
        return [(i.base_name, i.size, i.mtime_ns or 0) for i in self.fs.get_file_info(selector)
                if i.type == pafs.FileType.File]

    def parquet_rows(self, path: PurePath) -> int:
        """A Parquet object's row count, from its footer (ranged reads, not the whole object)."""
        with self.fs.open_input_file(self._key(path)) as f:
            return pq.read_metadata(f).num_rows

    def list_files(self, directory: PurePath) -> list[str]:
        """Every object under a folder, recursively, as filesystem paths."""
        selector = pafs.FileSelector(self._key(directory), recursive=True, allow_not_found=True)
        return sorted(info.path for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File)

    def read_bytes(self, path: PurePath) -> bytes:
        with self.fs.open_input_stream(self._key(path)) as f:
            return f.readall()

    def read_text(self, path: PurePath) -> str:
        return self.read_bytes(path).decode("utf-8")

    def read_table(self, path: PurePath) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.read_bytes(path)))

    def _upload(self, local: Path, path: PurePath) -> None:
        pafs.copy_files(str(local), self._key(path), source_filesystem=self._local, destination_filesystem=self.fs)

    def _upload_bytes(self, data: bytes, path: PurePath) -> None:
        self._staging_root.mkdir(parents=True, exist_ok=True)
        tmp = self._staging_root / f".upload-{uuid.uuid4().hex}"
        try:
            tmp.write_bytes(data)
            self._upload(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def write_text(self, path: PurePath, text: str) -> None:
        self._upload_bytes(text.encode("utf-8"), path)

    def write_table(self, table: pa.Table, path: PurePath) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=lake.PARQUET_COMPRESSION, write_statistics=True)
        self._upload_bytes(sink.getvalue().to_pybytes(), path)

    def publish_file(self, local: Path, path: PurePath) -> None:
        """Upload a finished staged file under its final name, then drop the local copy."""
        self._upload(Path(local), path)
        Path(local).unlink()

    def delete(self, path: PurePath) -> None:
        try:
            self.fs.delete_file(self._key(path))
        except FileNotFoundError:
            pass


LakeStorage = Union[LocalStorage, ObjectStorage]


def open_lake(location: LakeLocation) -> "lake.LakeLayout":
    """The layout of a lake given as a local path or an ``s3://``/``gs://`` URI."""
    if is_object_store_uri(location):
        uri = parse_object_store_uri(str(location))
        return lake.LakeLayout(uri.root, storage=ObjectStorage(uri))
    if isinstance(location, str) and _URI_RE.match(location):
        parse_object_store_uri(location)  # raises the explanatory error for other schemes
    return lake.LakeLayout(Path(location))


def publish_files(storage: LakeStorage, pairs: Sequence[tuple[Path, PurePath]]) -> None:
    """Upload staged files to an object store (local lakes publish by rename in lake.publish_staged)."""
    for src, dst in pairs:
        if not src.exists():
            if storage.exists(dst):
                continue  # published by an earlier attempt of this batch
            raise FileNotFoundError(f"staged file vanished: {src}")
        storage.publish_file(src, dst)
