"""Lake locations: URI validation, environment settings, layout paths and the committed-file rule (no I/O)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import pytest

from pipeline.ops.cli import build_parser, main
from pipeline.io.lake.commitlog import BatchCommit
from pipeline.io.lake.compaction import compact_lake
from pipeline.io.lake.names import REMAP_TOPIC, data_file_name
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.location import (
    LocalLakeRequired,
    gcs_options,
    is_object_store_uri,
    lake_location,
    parse_object_store_uri,
    s3_options,
)
from pipeline.io.lake.storage import LocalStorage, ObjectStorage
from pipeline.io.lake.reader import is_committed


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "prefix"),
    [
        ("s3://news-lake/prod/wire", "s3", "news-lake", "prod/wire"),
        ("s3://news-lake/prod/wire/", "s3", "news-lake", "prod/wire"),
        ("S3://news.lake.eu", "s3", "news.lake.eu", ""),
        ("gs://newsroom_lake/v1", "gs", "newsroom_lake", "v1"),
        ("gcs://newsroom-lake/a/date=x", "gs", "newsroom-lake", "a/date=x"),
    ],
)
def test_object_store_uris_are_parsed_and_normalised(text, scheme, bucket, prefix):
    uri = parse_object_store_uri(text)
    assert (uri.scheme, uri.bucket, uri.prefix) == (scheme, bucket, prefix)
    assert is_object_store_uri(text)
    assert parse_object_store_uri(str(uri)) == uri
    assert uri.root == PurePosixPath(bucket, prefix) if prefix else PurePosixPath(bucket)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s3://AKIAEXAMPLE:secret@bucket/lake", "credentials"),
        ("s3://bucket/lake?endpoint_override=x", "query"),
        ("gs://bucket/lake#frag", "query"),
        ("s3://Bucket/lake", "bucket"),
        ("s3://ab/lake", "bucket"),
        ("s3://bucket/../etc", "segment"),
        ("s3://bucket/a//b", "segment"),
        ("s3://bucket/a b", "segment"),
        ("s3://bucket/a/./b", "segment"),
        ("hdfs://namenode/lake", "scheme"),
        ("file:///tmp/lake", "scheme"),
    ],
)
def test_bad_lake_uris_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_object_store_uri(text)


def test_credentials_in_a_uri_never_reach_the_error_message():
    with pytest.raises(ValueError) as err:
        parse_object_store_uri("s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/lake")
    assert "wJalrXUtnFEMI" not in str(err.value) and "AKIAEXAMPLE" not in str(err.value)


def test_lake_location_keeps_local_paths_as_paths():
    assert lake_location("demo-lake") == Path("demo-lake")
    assert lake_location("/data/lake") == Path("/data/lake")
    assert lake_location("s3://bucket/lake/") == "s3://bucket/lake"
    assert not is_object_store_uri(Path("s3:/bucket/lake"))


def test_cli_takes_uris_and_refuses_bad_ones(capsys):
    parser = build_parser()
    args = parser.parse_args(["sql", "--lake", "gs://bucket/lake", "SELECT 1"])
    assert args.lake == "gs://bucket/lake"
    args = parser.parse_args(["run", "--bootstrap-servers", "k:9092", "--topic", "t", "--lake", "lake"])
    assert args.lake == Path("lake")
    with pytest.raises(SystemExit):
        parser.parse_args(["sql", "--lake", "s3://key:secret@bucket/lake", "SELECT 1"])
    err = capsys.readouterr().err
    assert "credentials in a lake URI are refused" in err and "secret" not in err.replace("credentials", "")


def test_s3_settings_come_from_the_environment_in_order():
    assert s3_options({}) == {}
    assert s3_options({"AWS_REGION": "eu-west-1"}) == {"region": "eu-west-1"}
    assert s3_options({"AWS_DEFAULT_REGION": "eu-west-2"}) == {"region": "eu-west-2"}
    env = {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"}
    assert s3_options(env) == {"endpoint_override": "b:2", "scheme": "http", "region": "us-east-1"}
    env["NEWSWIRE_S3_ENDPOINT"] = "https://minio.internal:9000/"
    assert s3_options(env)["endpoint_override"] == "minio.internal:9000"
    assert s3_options({"NEWSWIRE_S3_ENDPOINT": "minio:9000", "AWS_REGION": "x"}) == {
        "endpoint_override": "minio:9000", "scheme": "https", "region": "x"
    }
    with pytest.raises(ValueError):
        s3_options({"NEWSWIRE_S3_ENDPOINT": "http://user:pw@minio:9000"})
    with pytest.raises(ValueError):
        s3_options({"NEWSWIRE_S3_ENDPOINT": "ftp://minio:9000"})


def test_gcs_settings_come_from_the_environment():
    assert "endpoint_override" not in gcs_options({}) and "anonymous" not in gcs_options({})
    emulator = gcs_options({"STORAGE_EMULATOR_HOST": "http://localhost:9023"})
    assert (emulator["endpoint_override"], emulator["scheme"], emulator["anonymous"]) == ("localhost:9023", "http", True)
    private = gcs_options({"NEWSWIRE_GCS_ENDPOINT": "https://storage.internal", "GOOGLE_CLOUD_PROJECT": "p"})
    assert private["endpoint_override"] == "storage.internal" and "anonymous" not in private
    assert private["project_id"] == "p"


def test_local_lakes_keep_their_layout(tmp_path):
    layout = open_lake(str(tmp_path / "lake"))
    assert isinstance(layout.storage, LocalStorage) and layout.storage.is_local
    assert layout.root == tmp_path / "lake" and layout.location == str(tmp_path / "lake")
    assert layout.staging_dir(3) == tmp_path / "lake" / "_newswire" / "staging" / f"batch-{3:020d}"
    assert open_lake(tmp_path / "lake") == layout
    with pytest.raises(ValueError, match="scheme"):
        open_lake("abfs://container/lake")


@pytest.mark.parametrize("uri", ["s3://news-lake/prod", "gs://news-lake/prod"])
def test_object_store_layouts_stage_locally(uri, tmp_path, monkeypatch):
    # Endpoints that are never contacted: building a layout does no I/O.
    monkeypatch.setenv("NEWSWIRE_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("NEWSWIRE_STAGING_DIR", str(tmp_path / "staging"))
    layout = open_lake(uri)
    assert isinstance(layout.storage, ObjectStorage) and not layout.storage.is_local
    assert layout.location == uri and layout.storage.cache_key == uri
    assert layout.root == PurePosixPath("news-lake/prod")
    assert layout.table_dir("articles") == PurePosixPath("news-lake/prod/articles")
    assert layout.meta / "commits" == PurePosixPath("news-lake/prod/_newswire/commits")
    staging = layout.staging_dir(7)
    assert staging.parent.parent == tmp_path / "staging" and staging.name == f"batch-{7:020d}"
    other = open_lake(uri.replace("prod", "test"))
    assert other.staging_dir(7) != staging, "two lakes never share a staging folder"
    with pytest.raises(ValueError, match="outside the lake"):
        layout.storage.exists(PurePosixPath("news-lake/other/x"))


def commit(batch_id: int, ends: dict) -> BatchCommit:
    return BatchCommit(batch_id, ends, (), {}, {}, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_a_data_file_is_committed_when_its_first_offset_is_below_the_committed_end():
    latest = commit(4, {("wire", 0): 100, ("wire", 1): 7})
    assert is_committed("articles", data_file_name("wire", 0, 0), latest)
    assert is_committed("articles", data_file_name("wire", 0, 99), latest)
    assert not is_committed("articles", data_file_name("wire", 0, 100), latest)
    assert not is_committed("entities", data_file_name("wire", 1, 7), latest)
    assert not is_committed("dead_letters", data_file_name("wire", 2, 0), latest)  # partition never committed
    assert not is_committed("articles", data_file_name("other", 0, 0), latest)
    assert not is_committed("articles", data_file_name("wire", 0, 0), None)
    assert not is_committed("articles", "part-wire-0-0.parquet", latest)  # not a name the job writes
    assert not is_committed("articles", data_file_name("wire", 0, 0) + ".tmp", latest)


def test_cluster_remap_files_are_committed_by_batch_id():
    latest = commit(4, {("wire", 0): 100})
    assert is_committed("cluster_remaps", data_file_name(REMAP_TOPIC, 0, 4), latest)
    assert is_committed("cluster_remaps", data_file_name(REMAP_TOPIC, 0, 0), latest)
    assert not is_committed("cluster_remaps", data_file_name(REMAP_TOPIC, 0, 5), latest)


def test_compaction_refuses_object_store_lakes(monkeypatch, capsys):
    monkeypatch.setenv("NEWSWIRE_S3_ENDPOINT", "http://127.0.0.1:9")  # never contacted
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(LocalLakeRequired, match="local lakes only"):
        compact_lake("s3://news-lake/prod")
    with pytest.raises(SystemExit) as stop:
        main(["compact", "--lake", "s3://news-lake/prod"])
    assert "local lakes only" in str(stop.value)
    with pytest.raises(SystemExit) as stop:
        main(["run", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--lake", "s3://news-lake/prod",
              "--compact-every", "5"])
    assert stop.value.code == 2 and "need a local lake" in capsys.readouterr().err
