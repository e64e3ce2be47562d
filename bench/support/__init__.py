"""What the benchmarks share: a scratch PostgreSQL database and services built on it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.pool import NullPool

from docflow.bootstrap import Services, bootstrap
from docflow.config import Settings
from storage.db import migrate
from storage.db.engine import make_engine

# The test suite's server (see tests/conftest.py and scripts/test-services).
SERVER = os.environ.get("DOCFLOW_TEST_PG_URL") or (
    f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('DOCFLOW_TEST_PG_PORT', '5432')}")


class RecordingQueue:
    """A job queue that runs nothing: it records what was enqueued, so the bench runs the job."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[str, ...]]] = []

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                key: str | None = None) -> None:
        self.jobs.append((job, args))

    def check(self) -> None:
        return None


def _libpq(server: str, database: str) -> str:
    return server.replace("postgresql+psycopg://", "postgresql://", 1) + f"/{database}"


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """Create `docflow_bench_<random>`; drop it on the way out, whatever happened."""
    name = f"docflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(server, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(_libpq(server, "postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))
        print(f"dropped database {name}")


def services_on(url: str, data_dir: Path, queue: RecordingQueue) -> Services:
    """Migrate the scratch database and build the services on it (blobs in `data_dir`)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    settings = Settings.from_env({
        "DOCFLOW_DATA_DIR": str(data_dir), "DOCFLOW_DATABASE_URL": url,
        "DOCFLOW_SECRET_KEY": "bench", "DOCFLOW_FAST_PASSWORD_HASHING": "1"})
    return bootstrap(settings, queue=queue)
