"""Receive an upload as a stream: spool it to disk, hashing as it goes, never all in memory."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docflow.domain.errors import Invalid, TooLarge

CHUNK = 1 << 20


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


@contextmanager
def spool(stream: BinaryIO, *, limit: int, directory: Path) -> Iterator[Spooled]:
    """Copy `stream` into a temporary file under `directory`, refusing more than `limit` bytes.

    The file is removed when the block ends, whatever happens.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge.fmt("the file is larger than the limit of %(limit)s bytes",
                                       {"limit": limit}, limit=limit)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid("the file is empty")
        yield Spooled(path, digest.hexdigest(), size)
    finally:
        path.unlink(missing_ok=True)
