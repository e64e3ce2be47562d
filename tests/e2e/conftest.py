from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from docflow.bootstrap import Services, bootstrap
from docflow.config import Settings
from docflow.web import create_app
from storage.db import migrate
from tests.conftest import Org, seed_org

DOCFLOW = str(Path(sys.executable).parent / "docflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def production_env(tmp_path: Path, pg_url: str, redis_url: str, rq_queue: str,
                   s3_env: dict[str, str]
                   ) -> dict[str, str]:
    """The production shape on real servers: PostgreSQL, Redis (RQ) and S3 (Ceph RGW)."""
    return {"DOCFLOW_DATA_DIR": str(tmp_path / "data"), "DOCFLOW_DATABASE_URL": pg_url,
            "DOCFLOW_REDIS_URL": redis_url, "DOCFLOW_QUEUE": rq_queue,
            "DOCFLOW_SECRET_KEY": "e2e-secret", "DOCFLOW_SECURE_COOKIES": "false",
            "DOCFLOW_FAST_PASSWORD_HASHING": "1", "DOCFLOW_MAX_UPLOAD_MB": "2", **s3_env}


@pytest.fixture
def worker(production_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A real `docflow worker` (RQ, forking a work horse per job) on the production shape,
    its database migrated first."""
    services = bootstrap(Settings.from_env(production_env))
    try:
        migrate.upgrade(services.engine)
    finally:
        services.close()
    env = {**os.environ, **production_env}
    log = (Path(production_env["DOCFLOW_DATA_DIR"]) / "worker.log").open("w")
    process = subprocess.Popen([DOCFLOW, "worker"], env=env, stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def stack(production_env: dict[str, str], worker: subprocess.Popen[bytes]
          ) -> Iterator[tuple[Services, Flask]]:
    settings = Settings.from_env(production_env)
    services = bootstrap(settings)
    migrate.upgrade(services.engine)
    app = create_app(services)
    app.testing = True
    try:
        yield services, app
    finally:
        services.close()


def children(pid: int) -> set[int]:
    """The live child processes of `pid`."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return set()
    return {int(c) for c in listed}


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except FileNotFoundError:
        return []


@pytest.fixture
def people(stack: tuple[Services, Flask]) -> Org:
    return seed_org(stack[0])


@pytest.fixture
def client(stack: tuple[Services, Flask]) -> FlaskClient:
    return stack[1].test_client()


def wait_until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
