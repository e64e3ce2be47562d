"""Fixtures shared by every tier.

Servers: PostgreSQL and Redis on 127.0.0.1 (the test command makes sure they answer), and the
S3 server the test command starts (its address arrives as DOCFLOW_TEST_S3_*). When a server is
missing, its tests skip, unless DOCFLOW_TEST_REQUIRE_SERVERS=1 (the test command sets it), in
which case they fail: CI never passes by skipping the real parts.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docflow.bootstrap import Services, bootstrap
from docflow.config import Settings
from docflow.domain.audit import Origin
from docflow.domain.documents import Document, DraftSpec, RevisionKind
from docflow.domain.org import Actor, Level
from docflow.domain.signatures import SignatureKind
from docflow.services.org import OrgImport, UnitRow, UserRow
from tests import softhsm
from tests.keys import test_keys
from tests.pdfs import good_pdf

PG_ADMIN_URL = os.environ.get("DOCFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DOCFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
REQUIRE = os.environ.get("DOCFLOW_TEST_REQUIRE_SERVERS") == "1"
ORIGIN = Origin(client_addr="127.0.0.1", user_agent="pytest", via="api")
PASSWORD = "correct-horse-battery"


def missing(what: str) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is not reachable, and DOCFLOW_TEST_REQUIRE_SERVERS=1")
    pytest.skip(f"{what} is not reachable")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def embedded_settings(data_dir: Path, **extra: str) -> Settings:
    return Settings.from_env({"DOCFLOW_DATA_DIR": str(data_dir),
                              "DOCFLOW_FAST_PASSWORD_HASHING": "1", **extra})


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """The embedded default: SQLite file, blob folder, in-process jobs."""
    svc = bootstrap(embedded_settings(tmp_path), upgrade_embedded=True)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Any:
    """A browser on the embedded default's pages (Flask's test client)."""
    from docflow.web import create_app

    app = create_app(services)
    app.testing = True
    return app.test_client()


def log_in(client: Any, username: str) -> str:
    """Log `username` in through the login form; the session's CSRF token."""
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1)})
    assert done.status_code == 302, done.text
    after = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert after is not None  # a login starts a new session, with a CSRF token of its own
    return after.group(1)


@dataclass
class Org:
    """A province P with three communes; one account per role that matters."""

    officer: Actor
    leader: Actor
    clerk: Actor
    auditor: Actor
    commune_clerk: Actor
    commune_leader: Actor
    other_clerk: Actor
    other_province_auditor: Actor


PROVINCE_UNITS = [
    UnitRow("t", "P01", "Hội LHPN tỉnh Một", "HPN", "province", ""),
    UnitRow("t", "P01.X1", "Hội LHPN xã Một", "HPNX1", "commune", "P01"),
    UnitRow("t", "P01.X2", "Hội LHPN xã Hai", "HPNX2", "commune", "P01"),
    UnitRow("t", "P01.X3", "Hội LHPN xã Ba", "HPNX3", "commune", "P01"),
    UnitRow("t", "P02", "Hội LHPN tỉnh Hai", "HPN2", "province", ""),
    UnitRow("t", "P02.X1", "Hội LHPN xã Bốn", "HPN2X1", "commune", "P02"),
]
ACCOUNTS = [
    ("officer", "P01", "officer"), ("leader", "P01", "leader"), ("clerk", "P01", "clerk"),
    ("auditor", "P01", "auditor"), ("x1clerk", "P01.X1", "clerk"),
    ("x1leader", "P01.X1", "leader"), ("x2clerk", "P01.X2", "clerk"),
    ("p2auditor", "P02", "auditor"),
]


def seed_org(svc: Services) -> Org:
    svc.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1), Level("commune", "Xã", 2)],
        units=PROVINCE_UNITS,
        users=[UserRow("t", u, u.title(), unit, role) for u, unit, role in ACCOUNTS]), ORIGIN)
    actors = []
    for username, _, _ in ACCOUNTS:
        svc.identity.set_password(username, PASSWORD, ORIGIN)
        actor = svc.identity.actor_by_username(username)
        assert actor is not None
        actors.append(actor)
    return Org(*actors)


@pytest.fixture
def org(services: Services) -> Org:
    return seed_org(services)


def approve(svc: Services, officer: Actor, leader: Actor, doc_id: str) -> None:
    """Outgoing v2 from draft to approved: submit, one review round passed, approve."""
    svc.documents.submit(officer, doc_id, ORIGIN)
    svc.documents.pass_review(leader, doc_id, ORIGIN)
    svc.documents.approve(leader, doc_id, ORIGIN)


def issue(svc: Services, leader: Actor, clerk: Actor, doc_id: str) -> Document:
    """From approved to issued with real signatures: the leader signs, the clerk numbers and
    seals (Decree 30's order)."""
    keys = test_keys()
    svc.signatures.sign(leader, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                        position="CHỦ TỊCH")
    svc.documents.number(clerk, doc_id, ORIGIN)
    svc.signatures.sign(clerk, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
    return svc.documents.view(clerk, doc_id, ORIGIN)


def issued_document(svc: Services, org: Org, doc_type: str = "CT") -> str:
    """A document taken from draft to issued; returns its id."""
    doc = svc.documents.draft(org.officer, DraftSpec(doc_type, "Về việc kiểm tra"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    issue(svc, org.leader, org.clerk, doc.id)
    return doc.id


def handled_in_a_commune(svc: Services, org: Org, doc_id: str) -> str:
    """An issued document dispatched to the communes (the in-process queue run), and the
    commune clerk's entry registered and completed; returns that entry's id."""
    from docflow.domain.routing import DispatchTarget
    from storage.queue.inprocess import InProcessQueue

    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(level="commune", under="P01"),
                           ORIGIN)
    assert isinstance(svc.queue, InProcessQueue) and svc.queue.join(10)
    entry = svc.queries.inbox(org.commune_clerk)[0]
    svc.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)
    svc.documents.complete_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)
    return entry.receipt_id


# --- real servers ------------------------------------------------------------------------------

@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database of our own, dropped afterwards."""
    if not _answers("127.0.0.1", int(os.environ.get("DOCFLOW_TEST_PG_PORT", "5432"))):
        missing("PostgreSQL")
    from sqlalchemy import create_engine, text

    name = f"docflow_test_{secrets.token_hex(6)}"
    admin = create_engine(f"{PG_ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis. Shared with any other test run on the machine (a CI run beside a
    developer's): tests keep to queues of their own (`rq_queue`), never flush."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisDown:
        missing("Redis")
    finally:
        client.close()
    yield REDIS_URL


@pytest.fixture
def rq_queue(redis_url: str) -> Iterator[str]:
    """An RQ queue name of this test's own; its keys are removed afterwards."""
    from redis import Redis

    name = f"docflow-test-{secrets.token_hex(6)}"
    yield name
    client = Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"rq:*{name}*"):
            client.delete(key)
    finally:
        client.close()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    endpoint = os.environ.get("DOCFLOW_TEST_S3_ENDPOINT")
    if not endpoint:
        missing("the S3 server (run the README's test command, which starts Ceph RGW)")
    assert endpoint is not None
    return S3Server(endpoint, os.environ["DOCFLOW_TEST_S3_ACCESS_KEY"],
                    os.environ["DOCFLOW_TEST_S3_SECRET_KEY"],
                    os.environ.get("DOCFLOW_TEST_S3_REGION", "default"))


@pytest.fixture
def s3_env(s3_server: S3Server) -> Iterator[dict[str, str]]:
    """Settings for a bucket of our own, emptied and removed afterwards."""
    from storage.blobs.s3 import make_client

    bucket = f"docflow-test-{secrets.token_hex(6)}"
    client = make_client(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                         s3_server.region)
    client.make_bucket(bucket)
    yield {"DOCFLOW_S3_ENDPOINT": s3_server.endpoint,
           "DOCFLOW_S3_ACCESS_KEY": s3_server.access_key,
           "DOCFLOW_S3_SECRET_KEY": s3_server.secret_key,
           "DOCFLOW_S3_REGION": s3_server.region, "DOCFLOW_S3_BUCKET": bucket}
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, str(obj.object_name))
    client.remove_bucket(bucket)


# --- PKCS#11 ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def softhsm_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ...]]:
    """Empty tokens, one per label in tests/softhsm.py's LABELS, in a token folder of this
    run's own (see tests/softhsm.py for why there is one per run)."""
    util = shutil.which("softhsm2-util")
    if util is None:
        missing("the softhsm2-util program")
    if not Path(softhsm.MODULE).exists():
        missing(softhsm.MODULE)
    assert util is not None
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for label in softhsm.LABELS:
        subprocess.run([util, "--init-token", "--free", "--label", label, "--so-pin", "5678",
                        "--pin", softhsm.PIN], check=True, capture_output=True)
    yield softhsm.LABELS
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before
