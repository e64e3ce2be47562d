"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from docflow.web.auth import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers; says nothing of its dependencies."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Database (and migrations), blob store and job queue all reachable."""
    checks = services().readiness()
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
