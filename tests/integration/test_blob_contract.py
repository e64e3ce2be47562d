"""The same checks on the blob folder (embedded default) and on a real S3 server (Ceph RGW)."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from docflow.bootstrap import _blob_store
from docflow.config import Settings
from docflow.services.ports import BlobStore


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    env = {"DOCFLOW_DATA_DIR": str(tmp_path)}
    if request.param == "s3":
        env |= request.getfixturevalue("s3_env")
        env["DOCFLOW_S3_PUBLIC_ENDPOINT"] = env["DOCFLOW_S3_ENDPOINT"]
    yield _blob_store(Settings.from_env(env))


def write(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / hashlib.sha256(data).hexdigest()[:8]
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_blob_round_trips_by_its_digest(store: BlobStore, tmp_path: Path) -> None:
    data = b"%PDF-1.7 " + bytes(range(256)) * 40_000  # ~10 MiB: several multipart parts
    path, digest = write(tmp_path, data)
    assert not store.exists(digest)
    store.put_file(path, digest, len(data), "application/pdf")
    store.put_file(path, digest, len(data), "application/pdf")  # idempotent
    assert store.exists(digest)
    with store.open(digest) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == digest
    assert [d for d, _ in store.inventory()] == [digest]
    store.delete(digest)
    assert not store.exists(digest)
    assert list(store.inventory()) == []


def test_bytes_in_memory_round_trip_as_files_do(store: BlobStore, tmp_path: Path) -> None:
    data = b"%PDF-1.7 signed " + bytes(range(256)) * 20_000  # ~5 MiB
    digest = hashlib.sha256(data).hexdigest()
    store.put_bytes(data, digest, "application/pdf")
    store.put_bytes(data, digest, "application/pdf")  # idempotent
    with store.open(digest) as stream:
        assert stream.read() == data
    assert [d for d, _ in store.inventory()] == [digest]
    path, same = write(tmp_path, data)
    store.put_file(path, same, len(data), "application/pdf")  # the same blob either way
    assert [d for d, _ in store.inventory()] == [digest]


def test_reads_stream_in_chunks(store: BlobStore, tmp_path: Path) -> None:
    data = b"x" * (3 << 20)
    path, digest = write(tmp_path, data)
    store.put_file(path, digest, len(data), "application/pdf")
    with store.open(digest) as stream:
        sizes = []
        while chunk := stream.read(1 << 20):
            sizes.append(len(chunk))
    assert sum(sizes) == len(data) and max(sizes) <= 1 << 20


def test_digests_are_checked_before_touching_storage(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="sha256"):
        store.exists("../../etc/passwd")


def test_the_store_reports_ready(store: BlobStore) -> None:
    store.check()


def test_presigned_urls_serve_the_file_when_the_store_gives_them(store: BlobStore,
                                                                 tmp_path: Path) -> None:
    path, digest = write(tmp_path, b"%PDF-1.7 presigned")
    store.put_file(path, digest, path.stat().st_size, "application/pdf")
    url = store.url_for(digest, "Chỉ thị 01.pdf", timedelta(minutes=1))
    if url is None:
        return  # the blob folder serves downloads through the app
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.read() == b"%PDF-1.7 presigned"
        assert "attachment" in response.headers["Content-Disposition"]


def test_a_missing_bucket_makes_the_store_not_ready(s3_env: dict[str, str], tmp_path: Path
                                                    ) -> None:
    env = {"DOCFLOW_DATA_DIR": str(tmp_path), **s3_env, "DOCFLOW_S3_BUCKET": "no-such-bucket-x"}
    with pytest.raises(OSError, match="does not exist"):
        _blob_store(Settings.from_env(env)).check()


def test_a_write_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    """The blob folder: no blob and no half-written temporary file, in a new folder or not."""
    from storage.blobs.fs import FilesystemBlobStore

    root = tmp_path / "blobs"
    store = FilesystemBlobStore(root)
    digest = hashlib.sha256(b"never").hexdigest()
    for _ in range(2):  # the second time its folder exists already
        with pytest.raises(FileNotFoundError):
            store.put_file(tmp_path / "missing.pdf", digest, 5, "application/pdf")
        assert not store.exists(digest)
        assert [p for p in root.rglob("*") if p.is_file()] == []
    data = b"kept"
    store.put_bytes(data, hashlib.sha256(data).hexdigest(), "application/pdf")
    assert [p.name for p in root.rglob("*") if p.is_file()] == [hashlib.sha256(data).hexdigest()]


def test_a_new_blob_is_synced_then_its_name(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The blob folder: the file's data, then (after the rename) the folder holding its name,
    and a new folder's own name in the root: all on disk before a row can name the blob."""
    import os

    from storage.blobs.fs import FilesystemBlobStore

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    root = tmp_path / "blobs"
    root.mkdir()
    store = FilesystemBlobStore(root)
    digest = hashlib.sha256(b"signed").hexdigest()
    store.put_bytes(b"signed", digest, "application/pdf")
    folder = root / digest[:2]
    assert synced[0] == str(root)  # the new folder's name
    assert synced[1].startswith(str(folder / ".incoming-"))  # the data, under its temporary name
    assert synced[2:] == [str(folder)]  # the name it was renamed to
