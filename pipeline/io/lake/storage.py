"""How a lake's files are stored: in a local folder, or under a prefix of an S3 or GCS bucket (``s3://``, ``gs://``).

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
import tempfile
import uuid
from pathlib import Path, PurePath, PurePosixPath
from typing import Iterable, Optional, Sequence, Union

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.io.lake.durable import (
    PARQUET_COMPRESSION,
    fsync_dir,
    makedirs_durable,
    write_json_durable,
    write_parquet_durable,
    write_text_once,
)
from pipeline.io.lake.location import ObjectStoreURI, object_filesystem
from pipeline.io.lake.names import META_DIR


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
        return self.root / META_DIR / "staging"

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
        write_json_durable(Path(path), text)

    def write_text_once(self, path: PurePath, text: str) -> None:
        """Create ``path`` with ``text``; ``FileExistsError`` when it exists (never replaced)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text_once(Path(path), text)

    def read_table(self, path: PurePath) -> pa.Table:
        return pq.read_table(Path(path))

    def write_table(self, table: pa.Table, path: PurePath) -> None:
        write_parquet_durable(table, Path(path))

    def publish(self, pairs: Sequence[tuple[Path, PurePath]]) -> None:
        """Rename finished staged files into place (each rename atomic for readers), then fsync their folders.

        A staged file that is gone while its target exists was published by an earlier attempt of the
        same batch (a replay after a crash), so publishing twice is harmless.
        """
        touched: set[Path] = set()
        for src, dst in pairs:
            target = Path(dst)
            if not src.exists():
                if target.exists():
                    continue
                raise FileNotFoundError(f"staged file vanished: {src}")
            makedirs_durable(target.parent)
            os.replace(src, target)
            touched.add(target.parent)
        for d in sorted(touched):
            fsync_dir(d)

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

    def write_text_once(self, path: PurePath, text: str) -> None:
        """Create an object that must not exist yet; ``FileExistsError`` when it does.

        pyarrow's filesystems offer no conditional put (If-None-Match), so this is check-then-upload:
        it refuses a second writer that comes late, not one racing within the same moment.
        """
        if self.exists(path):
            raise FileExistsError(f"{path} exists")
        self._upload_bytes(text.encode("utf-8"), path)

    def write_table(self, table: pa.Table, path: PurePath) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=PARQUET_COMPRESSION, write_statistics=True)
        self._upload_bytes(sink.getvalue().to_pybytes(), path)

    def publish(self, pairs: Sequence[tuple[Path, PurePath]]) -> None:
        """Upload finished staged files under their final names, one whole upload each, dropping local copies.

        A staged file that is gone while its object exists was uploaded by an earlier attempt of the batch.
        """
        for src, dst in pairs:
            if not src.exists():
                if self.exists(dst):
                    continue
                raise FileNotFoundError(f"staged file vanished: {src}")
            self._upload(Path(src), dst)
            Path(src).unlink()

    def delete(self, path: PurePath) -> None:
        try:
            self.fs.delete_file(self._key(path))
        except FileNotFoundError:
            pass


LakeStorage = Union[LocalStorage, ObjectStorage]
