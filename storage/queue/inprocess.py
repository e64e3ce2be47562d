"""Background jobs on a thread of this process: the embedded default, no server needed."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

log = logging.getLogger(__name__)

Handler = Callable[..., object]


class InProcessQueue:
    """A delay-aware job runner with retries. Jobs are lost if the process stops before they
    run; stalled work is picked up again by the recovery jobs (see `requeue_stalled`)."""

    def __init__(self, retries: int = 3, retry_delay: float = 1.0) -> None:
        self._handlers: Mapping[str, Handler] = {}
        self._heap: list[tuple[float, int, str, tuple[str, ...], int]] = []
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = 0
        self._stopping = False
        self._retries = retries
        self._retry_delay = retry_delay
        self.failures: list[tuple[str, tuple[str, ...], str]] = []
        self._keys: dict[int, str] = {}  # counter of a waiting keyed job -> its key

    def bind(self, handlers: Mapping[str, Handler]) -> None:
        """Name → function; set once the services exist (they need the queue first)."""
        self._handlers = dict(handlers)

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                key: str | None = None) -> None:
        if job not in self._handlers:
            raise KeyError(f"no job named {job!r}")
        due = time.monotonic() + (delay.total_seconds() if delay else 0.0)
        with self._cv:
            if key is not None and key in self._keys.values():
                return
            number = next(self._counter)
            if key is not None:
                self._keys[number] = key
            heapq.heappush(self._heap, (due, number, job, args, 0))
            self._start()
            self._cv.notify()

    def check(self) -> None:
        if self._stopping:
            raise RuntimeError("the in-process job runner is stopped")

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until no job is due or running; True if the queue went idle in time."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                now = time.monotonic()
                due = [item for item in self._heap if item[0] <= now]
                if not due and self._busy == 0:
                    return True
                if now >= deadline:
                    return False
                self._cv.wait(min(0.05, deadline - now))

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="docflow-jobs", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    timeout = (self._heap[0][0] - now) if self._heap else None
                    self._cv.wait(timeout)
                if self._stopping:
                    return
                _, number, job, args, attempt = heapq.heappop(self._heap)
                self._keys.pop(number, None)
                self._busy += 1
            try:
                self._handlers[job](*args)
            except Exception as exc:
                log.exception("job %s%s failed (attempt %d)", job, args, attempt + 1)
                with self._cv:
                    if attempt + 1 < self._retries:
                        due = time.monotonic() + self._retry_delay * (2 ** attempt)
                        heapq.heappush(self._heap, (due, next(self._counter), job, args,
                                                    attempt + 1))
                    else:
                        self.failures.append((job, args, repr(exc)))
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()
