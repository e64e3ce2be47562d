"""Validation in processes of their own, forked from a warm one.

Validating an uploaded PDF runs under an address-space limit, a CPU-time limit and a wall-clock
timeout, in a process that has nothing else in it. Starting an interpreter and importing
pyHanko for each document took ~0.7 s; here a long-lived *zygote* process (started on first use
with ``python -m docflow.signing.isolation``, single-threaded, pyHanko imported once) forks
*validators*, ~10 ms each. A validator sets its limits before it parses a byte of a document.

A validator takes one document at a time, and up to `Zygote`'s ``reuse`` documents in its
life: a fresh fork per document cost ~5 ms of a ~9 ms validation (its pages and caches cold,
the next one's fork and warm-up running beside it). It takes no other document after any
answer but a report (a limit reached, a crash, an exception), once its address space grew by
`GROWTH_BYTES`, or when its parent did not say it has the answer; ``reuse=1`` is one process
per document. What a document can change in a process is Python objects, freed after it;
the answer is JSON the parent checks, whatever process gave it.

Why not `multiprocessing`'s fork server, which works the same way: every process it starts
first re-runs the parent's ``__main__`` script (the ``docflow`` command, gunicorn, rq, a user's
script) unless that was started with ``-m``: slow at best, broken for an unguarded script.

The exchange, on a socket pair whose child end the zygote passes to a validator with
`socket.send_fds`: the validator writes its pid (4 bytes); the parent writes the request (its
length in 8 bytes, one JSON line, the PDF); the validator answers (whether it stays, the
length, JSON). The parent kills the validator by pid when time is up. One that stays waits
for the parent's word that it has the answer (``d``), tells the zygote it is free, then the
parent (``f``): the parent's next request finds it free, and no parent kills a validator that
has gone on to another's document.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import math
import os
import resource
import selectors
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

GROWTH_BYTES = 64 << 20
"""A validator whose address space grew by more than this since its start takes no more
documents: the next one would have less of its memory limit than a fresh process has."""

RELEASE_SECONDS = 1.0
"""How long a validator that offered to stay waits for its parent's word that it has the
answer (sent right after reading it), and the parent for the validator's reply."""

IDLE_MAX = max(2, os.cpu_count() or 2)
"""Idle validators the zygote keeps; more validate nothing faster on this many CPUs."""


class Zygote:
    """The parent's handle on the zygote; safe to share between threads, and between a
    process and its forks.

    A fork (RQ's work horse for each job, a pre-forking server's worker) sends its requests
    to the zygote it inherited the socket of: starting one of its own, pyHanko imported and
    the warm-up run, cost each job ~1 s before its first validation. Only when that zygote
    is gone does the fork start its own."""

    def __init__(self, handler: str, *, warm_up: str | None = None, reuse: int = 1) -> None:
        """`handler`: ``module:function``, called in a validator as ``function(header,
        data) -> Answer`` with the limits in force; its module is what the zygote keeps
        imported. `warm_up`: ``module:function`` the zygote runs once before it forks, and
        each validator again before its first document (see `serve`). `reuse`: documents
        a validator takes at most, one after another."""
        if reuse < 1:
            raise ValueError("a validator takes at least one document")
        self._handler = handler
        self._warm_up = warm_up
        self._reuse = reuse
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
        """Send one request to a validator; its answer, or ("timeout", …) when the wall
        clock ran out (the validator is killed)."""
        deadline = time.monotonic() + timeout
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = 0
        try:
            with theirs:
                self._hand_over(theirs)
            # Sent before the validator reads a byte of the document, so one taken over by
            # a hostile file cannot make us kill some other process.
            pid = int.from_bytes(_read_exactly(ours, 4, deadline), "big")
            ours.settimeout(max(0.001, deadline - time.monotonic()))
            line = json.dumps(header).encode() + b"\n"
            ours.sendall((len(line) + len(data)).to_bytes(8, "big") + line)
            if data:  # a validator done with a request may be gone: an empty send fails
                ours.sendall(data)
            stays, answer = _read_answer(ours, deadline, ANSWER_MAX_BYTES)
            if stays:
                _release(ours)
        except TimeoutError:
            _kill(pid)
            return ("timeout", f"validation did not finish within {timeout:g} s (wall clock)")
        except _TooLarge:
            _kill(pid)
            return ("failed", f"the validator process gave an answer over {ANSWER_MAX_BYTES} "
                              "bytes")
        except (ConnectionError, EOFError, OSError) as exc:
            _kill(pid)
            if isinstance(exc, EOFError):
                return ("failed", "the validator process stopped without an answer (killed "
                                  "by a resource limit, or it crashed)")
            return ("failed", f"the validator process stopped ({type(exc).__name__})")
        finally:
            ours.close()
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
            # -P: not the working directory first on the path, where another `docflow`
            # (an old checkout, anything writable) would be imported in place of this one.
            self._process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-P", "-m", __name__, str(theirs.fileno()), str(self._reuse),
                 self._handler, *([self._warm_up] if self._warm_up else [])],
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


def _read_exactly(sock: socket.socket, size: int,
                  deadline: float | None = None) -> bytearray:
    """`size` bytes (EOFError if the other end closed first), each read within what is left
    of `deadline` if given."""
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        if deadline is not None:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
        count = sock.recv_into(view[got:])
        if not count:
            raise EOFError
        got += count
    return data


class _TooLarge(Exception):
    """An answer longer than the parent reads."""


def _read_answer(sock: socket.socket, deadline: float, limit: int) -> tuple[bool, bytearray]:
    """Whether the validator offers to stay, and its answer (`_TooLarge` over `limit`)."""
    head = _read_exactly(sock, 9, deadline)
    size = int.from_bytes(head[1:], "big")
    if size > limit:
        raise _TooLarge(size)
    return head[:1] == _STAYS, _read_exactly(sock, size, deadline)


def _release(sock: socket.socket) -> None:
    """Tell a validator we have its answer, and wait until it told the zygote it is free:
    our next request, sent after, then finds it free, warm, rather than having a new one
    forked. Until then we may still kill it; after, we never do."""
    with contextlib.suppress(OSError):  # it is gone: the zygote finds that out itself
        sock.settimeout(RELEASE_SECONDS)
        sock.sendall(b"d")
        sock.recv(1)


# --- the zygote's side -------------------------------------------------------------------------


def limit(kind: int, value: int) -> None:
    """Lower one resource limit, never above the hard limit already in force."""
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def serve(control_fd: int, handle: Callable[[dict[str, Any], bytes], Answer],
          warm: Callable[[], object] | None = None, reuse: int = 1) -> None:
    """The zygote's loop: each request (a socket received) to an idle validator, or to one
    forked for it, until the parent goes.

    With `warm`, a validator runs it before its first document, and one is forked ahead
    whenever none is idle: the pages a validation writes to (reference counts, caches) are
    copied from the zygote then, not in the middle of the next document (~5 ms of page faults
    here). Without, a request that finds no idle validator gets a fresh fork."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the validators
    gc.freeze()
    _Validators(socket.socket(fileno=control_fd), handle, warm, reuse).serve()


class _Validators:
    """The zygote's validators: each linked to it by a socket on which it receives
    requests, and says ``i`` when it is idle again (EOF when it exited)."""

    def __init__(self, control: socket.socket,
                 handle: Callable[[dict[str, Any], bytes], Answer],
                 warm: Callable[[], object] | None, reuse: int) -> None:
        self._control = control
        self._handle, self._warm, self._reuse = handle, warm, reuse
        self._links: set[socket.socket] = set()
        self._idle: list[socket.socket] = []  # the most recently busy last: its caches warm
        self._selector = selectors.DefaultSelector()
        self._selector.register(control, selectors.EVENT_READ)

    def serve(self) -> None:
        if self._warm is not None:
            self._fork(None)
        while True:
            events = self._selector.select()
            # A validator that is free again says so before its parent can ask again; read
            # first, its notice makes it the one the next request goes to.
            for key, _mask in sorted(events, key=lambda e: e[0].fileobj is self._control):
                link = cast(socket.socket, key.fileobj)
                if link is not self._control:
                    self._notice(link)
                elif not self._request():
                    for each in list(self._links):
                        self._drop(each)  # an idle validator sees EOF and exits
                    return  # the parent closed its end, or exited

    def _request(self) -> bool:
        message, fds, _flags, _address = socket.recv_fds(self._control, 1, 1)
        if not message:
            return False
        if fds:
            try:
                self._dispatch(fds[0])
            finally:
                os.close(fds[0])
            # Forked only now: a spare holding the request's socket would keep its parent
            # from seeing EOF when the validator on it dies.
            if self._warm is not None and not self._idle:
                self._fork(None)  # the next one, warming while it waits
        return True

    def _dispatch(self, fd: int) -> None:
        while self._idle:
            link = self._idle.pop()
            try:
                socket.send_fds(link, [b"r"], [fd])
                break
            except OSError:  # it died while idle
                self._drop(link)
        else:
            self._fork(fd)

    def _notice(self, link: socket.socket) -> None:
        if link not in self._links:
            return  # dropped earlier in this round
        try:
            message = link.recv(1)
        except OSError:
            message = b""
        if message and len(self._idle) < IDLE_MAX:
            self._idle.append(link)
        else:
            self._drop(link)

    def _drop(self, link: socket.socket) -> None:
        self._selector.unregister(link)
        self._links.discard(link)
        if link in self._idle:
            self._idle.remove(link)
        link.close()

    def _fork(self, fd: int | None) -> None:
        """A new validator: for the request on `fd`, or (None) idle once warm."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                # The zygote's ends stay the zygote's: a validator holding another's link
                # would keep it from seeing its zygote go.
                for held in (self._control, ours, *self._links):
                    held.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _validate(theirs, self._handle, self._warm if fd is None else None,
                          self._reuse, fd)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        self._links.add(ours)
        self._selector.register(ours, selectors.EVENT_READ)
        if fd is None:
            self._idle.append(ours)


def _validate(link: socket.socket, handle: Callable[[dict[str, Any], bytes], Answer],
              warm: Callable[[], object] | None, reuse: int, fd: int | None) -> None:
    """A validator's life: up to `reuse` documents, the first on `fd` if given."""
    if warm is not None:
        with contextlib.suppress(Exception):  # a cold validator is slower, not wrong
            warm()
    start = _address_space()
    served = 0
    while served < reuse:
        if fd is None:
            message, fds, _flags, _address = socket.recv_fds(link, 1, 1)
            if not message:
                return  # the zygote is gone, or has idle validators enough
            if not fds:
                continue
            fd = fds[0]
        with socket.socket(fileno=fd) as client:
            fd = None
            served += 1
            answer = _handled(client, handle)
            now = _address_space()
            stays = (answer[0] == "report" and served < reuse and start is not None
                     and now is not None and now - start <= GROWTH_BYTES)
            _answer(client, answer, stays)
            if not stays or not _released(client):
                return
            link.sendall(b"i")
            client.sendall(b"f")  # the parent's next request may now come to us


def _handled(client: socket.socket,
             handle: Callable[[dict[str, Any], bytes], Answer]) -> Answer:
    """Read one request and run it within its limits (past the CPU-time limit, the answer
    is sent from the signal handler and the process ends)."""
    client.sendall(os.getpid().to_bytes(4, "big"))
    request = _read_exactly(client, int.from_bytes(_read_exactly(client, 8), "big"))
    newline = request.find(b"\n")
    header = json.loads(request[:newline])
    data = bytes(memoryview(request)[newline + 1:])
    del request

    def out_of_time(_signum: int, _frame: object) -> None:
        _answer(client, ("cpu", f"the CPU-time limit of {header['cpu_seconds']} s"), False)
        os._exit(1)

    signal.signal(signal.SIGXCPU, out_of_time)
    limit(resource.RLIMIT_AS, int(header["memory_bytes"]))
    limit(resource.RLIMIT_CORE, 0)
    # Counted from what this process has spent so far, so each document has the whole of
    # it. The soft limit only (SIGXCPU): the hard one could not be raised for the next.
    # Code that keeps the signal from being handled is stopped by the parent's wall clock.
    used = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used.ru_utime + used.ru_stime) + int(header["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU,
                       (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        answer = handle(header, data)
    except MemoryError:
        answer = ("memory", "")
    except Exception as exc:  # any failure is the parent's INDETERMINATE, said in words
        answer = ("failed", f"{type(exc).__name__}: {exc}"[:300])
    return answer


_STAYS, _GOES = b"s", b"g"


def _answer(sock: socket.socket, answer: Answer, stays: bool) -> None:
    # JSON, never pickle: the parent trusts nothing a process that parsed the file says.
    body = json.dumps(answer).encode()
    sock.sendall((_STAYS if stays else _GOES) + len(body).to_bytes(8, "big") + body)


def _released(client: socket.socket) -> bool:
    """Whether the parent said it has the answer: it will not kill us now."""
    client.settimeout(RELEASE_SECONDS)
    try:
        return client.recv(1) == b"d"
    except OSError:
        return False


def _address_space() -> int | None:
    """This process's address space in bytes, None where the system does not say (Linux
    does): a validator whose growth is unknown is not reused."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _named(spec: str) -> Callable[..., Any]:
    module, _, function = spec.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), function))


def main(argv: list[str]) -> int:
    reuse = int(argv[2])
    handle = _named(argv[3])  # imported once, here: the part every validator finds loaded
    warm = _named(argv[4]) if len(argv) > 4 else None
    if warm is not None:
        try:
            warm()
        except Exception as exc:  # a cold validator is slower, not wrong
            print(f"docflow validation zygote: warm-up failed: {exc!r}", file=sys.stderr)
            warm = None
    serve(int(argv[1]), handle, warm, reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
