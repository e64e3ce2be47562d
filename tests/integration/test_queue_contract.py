"""The same checks on the in-process job runner and on RQ with a real Redis and RQ worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from docflow.bootstrap import Services, bootstrap
from docflow.domain.routing import DispatchTarget
from docflow.services.documents import FAN_OUT_JOB, VALIDATE_JOB
from docflow.worker import jobs
from storage.queue.inprocess import InProcessQueue
from storage.queue.rq import RqQueue
from tests.conftest import ORIGIN, embedded_settings, issued_document, seed_org


@pytest.fixture(params=["inprocess", "rq"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    extra = {}
    if request.param == "rq":
        extra = {"DOCFLOW_REDIS_URL": request.getfixturevalue("redis_url"),
                 "DOCFLOW_QUEUE": request.getfixturevalue("rq_queue")}
    services = bootstrap(embedded_settings(tmp_path, **extra), upgrade_embedded=True)
    yield services
    services.close()


def drain(svc: Services) -> None:
    """Run what is queued: the in-process thread, or a real RQ worker in burst mode."""
    if isinstance(svc.queue, InProcessQueue):
        assert svc.queue.join(10)
        return
    assert isinstance(svc.queue, RqQueue)
    jobs.install(svc)
    SimpleWorker([svc.queue.queue], connection=svc.queue.connection).work(burst=True)


def test_a_dispatch_job_creates_the_entries(svc: Services) -> None:
    org = seed_org(svc)
    doc_id = issued_document(svc, org)
    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(level="commune", under="P01"),
                           ORIGIN)
    drain(svc)
    assert svc.queries.recipients(org.clerk, doc_id)[0] == {"delivered": 3}


def test_a_job_run_twice_changes_nothing_more(svc: Services) -> None:
    org = seed_org(svc)
    doc_id = issued_document(svc, org)
    dispatch = svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X1",)),
                                      ORIGIN)
    svc.queue.enqueue(FAN_OUT_JOB, dispatch.id)
    drain(svc)
    assert svc.queries.recipients(org.clerk, doc_id)[0] == {"delivered": 1}


def test_delayed_jobs_wait_for_their_time(svc: Services) -> None:
    org = seed_org(svc)
    doc_id = issued_document(svc, org)
    dispatch = svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X1",)),
                                      ORIGIN)
    if isinstance(svc.queue, RqQueue):
        svc.queue.queue.empty()  # leave only the delayed copy below
    else:
        assert svc.queue.join(10)
        svc.queue.enqueue(FAN_OUT_JOB, dispatch.id)  # idempotent: settles nothing new
    later = svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X2",)),
                                   ORIGIN)
    if isinstance(svc.queue, RqQueue):
        svc.queue.queue.empty()
        svc.queue.enqueue(FAN_OUT_JOB, later.id, delay=timedelta(seconds=30))
        # RQ keeps it in the scheduled registry; the worker's scheduler moves it when due.
        assert ScheduledJobRegistry(queue=svc.queue.queue).count == 1
        assert len(svc.queue.queue) == 0
        return
    assert svc.queue.join(10)  # the immediate job of `later` has run...
    # ...so use a fresh dispatch whose only job is the delayed one.
    svc.queue.bind({FAN_OUT_JOB: lambda *_: None, VALIDATE_JOB: lambda *_: None})
    third = svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X3",)),
                                   ORIGIN)
    assert svc.queue.join(10)  # the no-op has taken the immediate job
    svc.queue.bind({FAN_OUT_JOB: svc.documents.fan_out,
                    VALIDATE_JOB: svc.intake.validate_dispatch})
    svc.queue.enqueue(FAN_OUT_JOB, third.id, delay=timedelta(seconds=1))
    assert svc.documents.dispatch_state(third.id).status == "pending"  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while svc.documents.dispatch_state(third.id).status != "done":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_queue_reports_ready(svc: Services) -> None:
    svc.queue.check()


def test_a_keyed_job_waits_once_whoever_plans_it(svc: Services) -> None:
    """Every worker plans the recurring upkeep at start, and every run plans the next: under
    one key per period, only one run waits."""
    from docflow.services.maintenance import (
        REMIND_JOB,
        REQUEUE_JOB,
        SEQUENCE_JOB,
        SWEEP_JOB,
        TREE_HEAD_JOB,
    )

    svc.maintenance.start()
    svc.maintenance.start()  # a second worker starting in the same period
    # No mail job: no SMTP configured. The audit sequencer's period is 2 s, so the two
    # starts may straddle one of its periods: it is counted apart.
    jobs = {REQUEUE_JOB, SWEEP_JOB, REMIND_JOB, TREE_HEAD_JOB, SEQUENCE_JOB}
    if isinstance(svc.queue, RqQueue):
        scheduled = ScheduledJobRegistry(queue=svc.queue.queue).get_job_ids()
        assert len([i for i in scheduled if SEQUENCE_JOB not in i]) == 4
        assert {job for job in jobs for id_ in scheduled if job in id_} == jobs
        # A run within the same period plans the same next run: still one each.
        assert svc.maintenance.requeue_stalled() == 0
        assert sorted(ScheduledJobRegistry(queue=svc.queue.queue).get_job_ids()) \
            == sorted(scheduled)
        return
    keyed = sorted(svc.queue._keys.values())  # type: ignore[attr-defined]
    assert {k.split(":")[0] for k in keyed} == jobs
    assert len([k for k in keyed if not k.startswith(SEQUENCE_JOB)]) == 4
