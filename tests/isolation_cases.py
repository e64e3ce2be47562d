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


GROWN: list[bytearray] = []


def mixed(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    """What the header asks for, in a validator that may have served others before."""
    match header.get("do"):
        case "fail":
            raise ValueError(f"failed in {os.getpid()}")
        case "burn":  # most of a CPU second, within each document's limit of one
            until = time.process_time() + 0.7
            while time.process_time() < until:
                pass
        case "grow":  # kept after the answer, as a leak would be
            GROWN.append(bytearray(96 << 20))
        case "sleep":
            time.sleep(60)
        case "hog":
            return hog_memory(header, data)
        case "spin":
            while True:
                pass
        case "big":
            return ("report", "x" * (17 << 20))
    return ("report", {"pid": os.getpid(), "parent": os.getppid(), "tag": header.get("tag"),
                       "size": len(data)})
