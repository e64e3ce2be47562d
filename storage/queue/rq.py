"""Background jobs on RQ and Redis: production."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq import Queue, Retry

JOB_MODULE = "docflow.worker.jobs"


class RqQueue:
    """Enqueues by dotted name, so this adapter never imports the job code itself."""

    def __init__(self, connection: Redis, name: str = "docflow", job_timeout: int = 600) -> None:
        self.connection = connection
        self.queue = Queue(name, connection=connection, default_timeout=job_timeout)

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None) -> None:
        target = f"{JOB_MODULE}.{job}"
        retry = Retry(max=3, interval=[10, 60, 300])
        if delay:
            self.queue.enqueue_in(delay, target, *args, retry=retry)
        else:
            self.queue.enqueue(target, *args, retry=retry)

    def check(self) -> None:
        self.connection.ping()
