"""Background jobs on RQ and Redis: production."""

from __future__ import annotations

import re
from datetime import timedelta

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

JOB_MODULE = "docflow.worker.jobs"
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED)


class RqQueue:
    """Enqueues by dotted name, so this adapter never imports the job code itself."""

    def __init__(self, connection: Redis, name: str = "docflow", job_timeout: int = 600) -> None:
        self.connection = connection
        self.queue = Queue(name, connection=connection, default_timeout=job_timeout)

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                key: str | None = None) -> None:
        target = f"{JOB_MODULE}.{job}"
        retry = Retry(max=3, interval=[10, 60, 300])
        job_id = None
        if key is not None:
            # RQ job ids are letters, digits, '_' and '-'.
            job_id = re.sub(r"[^A-Za-z0-9_-]", "-", f"docflow-{self.queue.name}-{key}")
            try:
                if Job.fetch(job_id, connection=self.connection).get_status() in WAITING:
                    return
            except NoSuchJobError:
                pass
        if delay:
            self.queue.enqueue_in(delay, target, *args, retry=retry, job_id=job_id)
        else:
            self.queue.enqueue(target, *args, retry=retry, job_id=job_id)

    def check(self) -> None:
        self.connection.ping()
