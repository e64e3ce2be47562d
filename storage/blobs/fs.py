"""Content-addressed blobs in a local folder: the embedded default."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

HEX = frozenset("0123456789abcdef")


def _check_digest(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= HEX:
        raise ValueError("not a sha256 hex digest")
    return sha256


DROP_AFTER = 1 << 20
"""Blobs this large leave the page cache once they are on disk (see `_forget`)."""


def _forget(out: BinaryIO) -> None:
    """Let the kernel reuse a large blob's pages at once. A blob is written once and read
    seldom (the next signature, hours later); left cached, every new scan takes fresh pages
    instead, which on a VM whose memory the host backs on first touch costs ~25 ms per 10 MiB,
    more than writing it (docs/PERFORMANCE.md, 2026-12-07)."""
    if hasattr(os, "posix_fadvise") and out.tell() >= DROP_AFTER:
        os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _sync_folder(folder: Path) -> None:
    """Make a new name in `folder` durable: the file's own fsync does not cover its directory
    entry, and the row naming the blob is committed next; a crash in between would leave the
    row and lose the file."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore:
    """``ROOT/ab/abcdef…``; writes go to a temporary file and are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / _check_digest(sha256)

    def put_file(self, path: Path, sha256: str, size: int, media_type: str) -> None:
        def copy(out: BinaryIO) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        self._put(sha256, copy)

    def put_bytes(self, data: bytes, sha256: str, media_type: str) -> None:
        self._put(sha256, lambda out: out.write(data))

    def _put(self, sha256: str, write: Callable[[BinaryIO], object]) -> None:
        """Write to a temporary name beside the target, sync, rename (a reader never sees
        half a blob), then sync the folder (the name is on disk before a row names it)."""
        target = self._path(sha256)
        if target.exists():
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        except FileNotFoundError:  # the first blob of its folder (a mkdir each time costs)
            target.parent.mkdir(parents=True, exist_ok=True)
            _sync_folder(target.parent.parent)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
                _forget(out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_folder(target.parent)

    def open(self, sha256: str) -> BinaryIO:
        return self._path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def url_for(self, sha256: str, filename: str, expires: timedelta) -> str | None:
        return None

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def inventory(self) -> Iterator[tuple[str, datetime]]:
        if not self.root.exists():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for entry in folder.iterdir():
                if len(entry.name) == 64 and set(entry.name) <= HEX:
                    yield entry.name, datetime.fromtimestamp(entry.stat().st_mtime, UTC)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise OSError(f"the blob folder {self.root} is not writable")
