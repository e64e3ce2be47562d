"""RQ job functions. They take ids, never objects, and are safe to run twice."""

from __future__ import annotations

import os

from docflow.bootstrap import Services, bootstrap
from docflow.config import Settings

_services: Services | None = None
_pid: int | None = None


def install(services: Services) -> None:
    """Use these services for jobs run in this process (the worker entrypoint calls it)."""
    global _services, _pid
    _services, _pid = services, os.getpid()


def _current() -> Services:
    global _pid  # noqa: PLW0603
    if _services is None:
        install(bootstrap(Settings.from_env(os.environ)))
    assert _services is not None
    if _pid != os.getpid():
        # A forked work horse must not share the parent's pooled database connections.
        _services.engine.dispose(close=False)
        _pid = os.getpid()
    return _services


def fan_out_dispatch(dispatch_id: str) -> int:
    """Create the incoming entries of one dispatch."""
    return _current().documents.fan_out(dispatch_id)


def validate_dispatch(dispatch_id: str) -> str | None:
    """Validate the file a dispatch sent; returns the verdict."""
    outcome = _current().intake.validate_dispatch(dispatch_id)
    return outcome.verdict if outcome else None


def complete_batch_item(item_id: str) -> str | None:
    """Complete one document of a signing batch; returns its status."""
    status = _current().batches.complete_item(item_id)
    return status.value if status else None


def seal_batch_item(item_id: str) -> str | None:
    """Seal one document of a clerk's batch with the seal the server holds; its status."""
    status = _current().batches.seal_item(item_id)
    return status.value if status else None


def requeue_stalled() -> int:
    """Enqueue again dispatches whose job was lost; plans the next run."""
    return _current().maintenance.requeue_stalled()


def sweep_blobs() -> int:
    """Delete blobs nothing points to; plans the next run."""
    return _current().maintenance.sweep_blobs()


def send_reminders() -> int:
    """Deadline reminders, escalations and late registrations; plans the next run."""
    return _current().maintenance.send_reminders()


def send_mail() -> int:
    """Mail the notifications not mailed yet; plans the next run."""
    return _current().maintenance.send_mail()


def sequence_audit() -> int:
    return _current().maintenance.sequence_audit()


def issue_tree_head() -> int:
    return _current().maintenance.issue_tree_head()


def send_to_witness() -> int:
    return _current().maintenance.send_to_witness()
