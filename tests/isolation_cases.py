"""Handlers for tests/unit/test_isolation.py, run by the zygote in its children."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

WARMED: list[int] = []


def warm() -> None:
    WARMED.append(os.getpid())


def echo(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    return ("report", {"pid": os.getpid(), "parent": os.getppid(), "size": len(data),
                       "tag": header.get("tag"), "warmed_here": os.getpid() in WARMED})


def hog_memory(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    hoard = [bytearray(64 << 20) for _ in range(64)]  # 4 GiB, over any limit the tests set
    return ("report", {"held": len(hoard)})


def spin(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    while True:
        pass


def sleep(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    with open(header["pidfile"], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(60)
    return ("report", {})


def crash(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    os.kill(os.getpid(), signal.SIGSEGV)
    return ("report", {})


def fail(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    raise ValueError("no such thing")
