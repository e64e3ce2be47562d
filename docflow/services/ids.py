"""Identifiers for new rows."""

from __future__ import annotations

import os
import time
import uuid

_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def new_id() -> str:
    """A UUIDv7 (RFC 9562): unguessable like a v4, but time-ordered, so the rows of a large
    dispatch land at the end of their B-tree indexes instead of all over them."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((millis & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (((rand >> 62) & _RAND_A) << 64) \
        | (0b10 << 62) | (rand & _RAND_B)
    return str(uuid.UUID(int=value))
