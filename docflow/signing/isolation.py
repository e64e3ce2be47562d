"""A process of its own for each validation, forked from a warm one.

Validating an uploaded PDF runs under an address-space limit, a CPU-time limit and a wall-clock
timeout, in a process that has nothing else in it. Starting an interpreter and importing
pyHanko for each document took ~0.7 s; here a long-lived *zygote* process (started on first use
with ``python -m docflow.signing.isolation``, single-threaded, pyHanko imported once) forks one
child per document, ~10 ms. The child sets its limits before it parses a byte of the document.

Why not `multiprocessing`'s fork server, which works the same way: every process it starts
first re-runs the parent's ``__main__`` script (the ``docflow`` command, gunicorn, rq, a user's
script) unless that was started with ``-m``: slow at best, broken for an unguarded script.

The exchange, on a socket pair whose child end the zygote receives with `socket.send_fds`:
the child writes its pid (4 bytes), reads the request until EOF (one JSON line, then the PDF),
writes its answer (JSON) and exits. The parent kills the child by pid when time is up.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

Answer = tuple[str, Any]
"""("report", …) or ("memory" | "cpu" | "timeout" | "failed", words)."""

ANSWER_MAX_BYTES = 16 << 20


class Zygote:
    """The parent's handle on the zygote; safe to share between threads, and between a
    process and its forks.

    A fork (RQ's work horse for each job, a pre-forking server's worker) sends its requests
    to the zygote it inherited the socket of: starting one of its own, pyHanko imported and
    the warm-up run, cost each job ~1 s before its first validation. Only when that zygote
    is gone does the fork start its own."""

    def __init__(self, handler: str, *, warm_up: str | None = None) -> None:
        """`handler`: ``module:function``, called in each child as ``function(header,
        data) -> Answer`` with the limits in force; its module is what the zygote keeps
        imported. `warm_up`: ``module:function`` the zygote runs once before it forks, and
        each spare child again while it waits (see `serve`)."""
        self._handler = handler
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._owner = 0
        self._at_exit = False
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # Another thread may have held the lock at the fork; none of them came along.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the zygote now, not at the first request: before a process forks the
        workers that will validate, so they all share it."""
        with self._lock:
            self._started()

    def run(self, header: dict[str, Any], data: bytes, timeout: float) -> Answer:
        """Send one request to a fresh child; its answer, or ("timeout", …) when the
        wall clock ran out (the child is killed)."""
        deadline = time.monotonic() + timeout
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = 0
        try:
            with theirs:
                self._hand_over(theirs)
            ours.settimeout(max(0.001, deadline - time.monotonic()))
            # Sent before the child reads a byte of the document, so a child taken over by
            # a hostile file cannot make us kill some other process.
            pid = int.from_bytes(_read_exactly(ours, 4), "big")
            ours.settimeout(max(0.001, deadline - time.monotonic()))
            ours.sendall(json.dumps(header).encode() + b"\n" + data)
            ours.shutdown(socket.SHUT_WR)
            answer = _read_all(ours, deadline, ANSWER_MAX_BYTES)
        except TimeoutError:
            _kill(pid)
            return ("timeout", f"validation did not finish within {timeout:g} s (wall clock)")
        except (ConnectionError, EOFError, OSError) as exc:
            _kill(pid)
            return ("failed", f"the validator process stopped ({type(exc).__name__})")
        finally:
            ours.close()
        if not answer:
            return ("failed", "the validator process stopped without an answer (killed by a "
                              "resource limit, or it crashed)")
        try:
            kind, body = json.loads(answer)
            return str(kind), body
        except (ValueError, TypeError):
            return ("failed", "the validator process gave an unreadable answer")

    def _hand_over(self, end: socket.socket) -> None:
        with self._lock:
            for attempt in (1, 2):  # a zygote that died is started again, once
                try:
                    socket.send_fds(self._started(), [b"r"], [end.fileno()])
                    return
                except OSError:
                    if attempt == 2:
                        raise
                    self._stop()

    def _started(self) -> socket.socket:
        mine = self._owner == os.getpid()
        if self._control is not None and not mine:
            return self._control  # our parent's zygote; `_hand_over` falls back if it died
        if not mine or self._process is None or self._process.poll() is not None:
            self._stop()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            env = dict(os.environ)
            package_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (package_root, env.get("PYTHONPATH", "")) if p)
            # The command is fixed: this interpreter, this module, the inherited socket.
            self._process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", __name__, str(theirs.fileno()), self._handler,
                 *([self._warm_up] if self._warm_up else [])],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
            theirs.close()
            self._control, self._owner = ours, os.getpid()
            if not self._at_exit:
                atexit.register(self._stop)
                self._at_exit = True
        assert self._control is not None
        return self._control

    def _stop(self) -> None:
        if self._control is not None:
            # The zygote sees EOF and exits once every process holding its socket closed it:
            # a fork closing its copy leaves its parent's zygote running.
            self._control.close()
        if self._owner == os.getpid() and self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process, self._control, self._owner = None, None, 0


def _kill(pid: int) -> None:
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):  # it finished after all
            os.kill(pid, signal.SIGKILL)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _read_all(sock: socket.socket, deadline: float, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise EOFError
        parts.append(chunk)


# --- the zygote's side -------------------------------------------------------------------------


def limit(kind: int, value: int) -> None:
    """Lower one resource limit, never above the hard limit already in force."""
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL a second later should it be ignored.
    resource.setrlimit(kind, (value, value + 1 if kind == resource.RLIMIT_CPU else value))


def serve(control_fd: int, handle: Callable[[dict[str, Any], bytes], Answer],
          warm: Callable[[], object] | None = None) -> None:
    """The zygote's loop: one forked child per socket received, until the parent goes.

    With `warm`, a spare child is forked ahead and runs it while no request waits: the pages
    a validation writes to (reference counts, caches) are copied from the zygote then, not
    in the middle of the next document (~5 ms of page faults here). Each child still takes
    one document only; a spare that died is replaced by a fork on the spot."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    spare = _spare(control, handle, warm) if warm else None
    while True:
        message, fds, _flags, _address = socket.recv_fds(control, 1, 1)
        if not message:
            if spare is not None:
                spare.close()  # it sees EOF and exits
            return  # the parent closed its end, or exited
        if not fds:
            continue
        try:
            if spare is None:
                raise OSError("no spare")
            socket.send_fds(spare, [b"r"], fds)
        except OSError:
            _fork_for(control, fds[0], handle)
        finally:
            os.close(fds[0])
            if spare is not None:
                spare.close()
        spare = _spare(control, handle, warm) if warm else None


def _spare(control: socket.socket, handle: Callable[[dict[str, Any], bytes], Answer],
           warm: Callable[[], object]) -> socket.socket:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            control.close()
            ours.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            with contextlib.suppress(Exception):  # a cold child is slower, not wrong
                warm()
            _message, fds, _flags, _address = socket.recv_fds(theirs, 1, 1)
            if fds:
                _child(socket.socket(fileno=fds[0]), handle)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    return ours


def _fork_for(control: socket.socket, fd: int,
              handle: Callable[[dict[str, Any], bytes], Answer]) -> None:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _child(socket.socket(fileno=os.dup(fd)), handle)
            code = 0
        finally:
            os._exit(code)


def _child(sock: socket.socket, handle: Callable[[dict[str, Any], bytes], Answer]) -> None:
    sock.sendall(os.getpid().to_bytes(4, "big"))
    request = bytearray()
    while chunk := sock.recv(1 << 20):
        request += chunk
    newline = request.find(b"\n")
    header = json.loads(bytes(request[:newline]))
    data = bytes(request[newline + 1:])
    del request

    def out_of_time(_signum: int, _frame: object) -> None:
        _answer(sock, ("cpu", f"the CPU-time limit of {header['cpu_seconds']} s"))
        os._exit(1)

    signal.signal(signal.SIGXCPU, out_of_time)
    limit(resource.RLIMIT_AS, int(header["memory_bytes"]))
    limit(resource.RLIMIT_CPU, int(header["cpu_seconds"]))
    limit(resource.RLIMIT_CORE, 0)
    try:
        answer = handle(header, data)
    except MemoryError:
        answer = ("memory", "")
    except Exception as exc:  # any failure is the parent's INDETERMINATE, said in words
        answer = ("failed", f"{type(exc).__name__}: {exc}"[:300])
    _answer(sock, answer)


def _answer(sock: socket.socket, answer: Answer) -> None:
    # JSON, never pickle: the parent trusts nothing a process that parsed the file says.
    sock.sendall(json.dumps(answer).encode())
    sock.shutdown(socket.SHUT_WR)


def _named(spec: str) -> Callable[..., Any]:
    module, _, function = spec.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), function))


def main(argv: list[str]) -> int:
    handle = _named(argv[2])  # imported once, here: the part every child finds loaded
    warm = _named(argv[3]) if len(argv) > 3 else None
    if warm is not None:
        try:
            warm()
        except Exception as exc:  # a cold child is slower, not wrong
            print(f"docflow validation zygote: warm-up failed: {exc!r}", file=sys.stderr)
            warm = None
    serve(int(argv[1]), handle, warm)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
