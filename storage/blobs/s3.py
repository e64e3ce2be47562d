"""Content-addressed blobs in an S3 bucket (MinIO in production, any S3 server works)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote, urlsplit

from minio import Minio
from minio.error import S3Error

from storage.blobs.fs import _check_digest

PREFIX = "blobs/"


def make_client(endpoint: str, access_key: str, secret_key: str, region: str | None) -> Minio:
    """A client for an ``http(s)://host:port`` endpoint."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the S3 endpoint must be http(s)://host[:port], not {endpoint!r}")
    return Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                 secure=parts.scheme == "https", region=region)


class S3BlobStore:
    """Objects ``blobs/ab/abcdef…`` in one bucket. Objects are never overwritten."""

    def __init__(self, client: Minio, bucket: str, public_client: Minio | None = None) -> None:
        self._client = client
        self._bucket = bucket
        # Presigned URLs must name a host the browser can reach, which inside a compose network
        # is not the one the service uses; without a public client, downloads stream through us.
        self._public = public_client

    def _key(self, sha256: str) -> str:
        return f"{PREFIX}{sha256[:2]}/{_check_digest(sha256)}"

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (servers differ in how they answer a second create)."""
        if not self._client.bucket_exists(self._bucket):
            self._client.make_bucket(self._bucket)

    def put_file(self, path: Path, sha256: str, size: int, media_type: str) -> None:
        if self.exists(sha256):
            return
        # fput_object streams the file in parts; it never holds the whole file in memory.
        self._client.fput_object(self._bucket, self._key(sha256), str(path),
                                 content_type=media_type, part_size=16 << 20)

    def put_bytes(self, data: bytes, sha256: str, media_type: str) -> None:
        if self.exists(sha256):
            return
        self._client.put_object(self._bucket, self._key(sha256), io.BytesIO(data), len(data),
                                content_type=media_type, part_size=16 << 20)

    def open(self, sha256: str) -> BinaryIO:
        response = self._client.get_object(self._bucket, self._key(sha256))
        return cast(BinaryIO, _ResponseStream(response))

    def exists(self, sha256: str) -> bool:
        try:
            self._client.stat_object(self._bucket, self._key(sha256))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise
        return True

    def url_for(self, sha256: str, filename: str, expires: timedelta) -> str | None:
        if self._public is None:
            return None
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
        return str(self._public.presigned_get_object(
            self._bucket, self._key(sha256), expires=expires,
            response_headers={"response-content-disposition": disposition}))

    def delete(self, sha256: str) -> None:
        self._client.remove_object(self._bucket, self._key(sha256))

    def inventory(self) -> Iterator[tuple[str, datetime]]:
        for obj in self._client.list_objects(self._bucket, prefix=PREFIX, recursive=True):
            name = str(obj.object_name).rsplit("/", 1)[-1]
            written = obj.last_modified or datetime.now(UTC)
            yield name, written

    def check(self) -> None:
        if not self._client.bucket_exists(self._bucket):
            raise OSError(f"the bucket {self._bucket!r} does not exist")


class _ResponseStream:
    """A file-like view of a urllib3 response that releases the connection on close."""

    def __init__(self, response: object) -> None:
        self._response = response

    def read(self, size: int = -1) -> bytes:
        return cast(bytes, self._response.read(None if size < 0 else size))  # type: ignore[attr-defined]

    def close(self) -> None:
        self._response.close()  # type: ignore[attr-defined]
        self._response.release_conn()  # type: ignore[attr-defined]

    def __enter__(self) -> _ResponseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
