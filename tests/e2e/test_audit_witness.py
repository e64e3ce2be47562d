"""The hierarchy witnesses itself: a province's docflow hands its signed tree heads to the
central docflow over HTTP; the centre keeps each one it can prove extends the last, and refuses
(and keeps, as evidence) a head of a forked or rolled-back log. An auditor holding the
centre's copy then catches the fork offline."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from docflow import auditbundle
from docflow.bootstrap import Services, bootstrap
from docflow.domain.audit import TreeHead
from docflow.services.audit import Selection
from docflow.web import create_app
from docflow.witness import HttpWitness, WitnessError
from tests.conftest import ACCOUNTS, ORIGIN, Org, embedded_settings, issued_document, seed_org
from tests.e2e.conftest import free_port


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[tuple[Services, str]]:
    """The parent unit's docflow, served over real HTTP on loopback."""
    services = bootstrap(embedded_settings(tmp_path / "centre"), upgrade_embedded=True)
    seed_org(services)
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield services, f"http://127.0.0.1:{port}/api/v1/audit"
    finally:
        server.shutdown()
        thread.join(5)
        services.close()


def _province(folder: Path, url: str, key: Path | None = None) -> Services:
    extra = {"DOCFLOW_AUDIT_WITNESS_URL": url}
    if key is not None:
        extra["DOCFLOW_AUDIT_LOG_KEY"] = str(key)
    services = bootstrap(embedded_settings(folder, **extra), upgrade_embedded=True)
    seed_org(services)
    return services


def test_the_centre_keeps_the_provinces_heads_and_refuses_a_fork(
        centre: tuple[Services, str], tmp_path: Path) -> None:
    hub, url = centre
    province = _province(tmp_path / "province", url)
    try:
        with pytest.raises(WitnessError, match="404"):  # not registered yet
            province.witness.send()
        log_id = hub.witness.add_log("P01", province.audit.public_key_pem, ORIGIN)
        assert log_id == province.audit.log_id

        people = seed_org_people(province)
        issued_document(province, people)
        assert province.witness.send() == "consistent"
        first = HttpWitness(url).latest(log_id)
        assert first is not None
        issued_document(province, people)
        assert province.witness.send() == "consistent"  # with a consistency proof this time
        held = hub.witness.latest(log_id)
        assert held.tree_size > first.tree_size

        # Someone restores the province's database from an old backup (or rewrites it): same
        # key, another history. Its next head cannot be proven to extend what the centre holds.
        key = province.settings.audit_log_key_path
        copy = tmp_path / "key.pem"
        shutil.copy(key, copy)
        forked = _province(tmp_path / "restored", url, key=copy)
        try:
            for _ in range(3):
                issued_document(forked, seed_org_people(forked))
            with pytest.raises(WitnessError, match=r"409.*forked"):
                forked.witness.send()
            verdicts = [w.verdict for w in hub.witness.heads(log_id)]
            assert verdicts[0] == "forked" and "consistent" in verdicts
            assert hub.witness.latest(log_id) == held  # the evidence does not replace it

            # An auditor verifies the restored log's export against the centre's copy.
            bundle = tmp_path / "restored.zip"
            doc = forked.audit.export(Selection(unit_code="P01"), known=[held])
            auditbundle.write(doc, bundle)
            report = auditbundle.verify_bundle(bundle, key_pem=province.audit.public_key_pem,
                                               known=[held])
            assert "FORKED_LOG" in {p.code for p in report.problems}
        finally:
            forked.close()

        # A head not signed by the log's key is refused outright, and not kept.
        forged = TreeHead(**{**held.__dict__, "tree_size": held.tree_size + 1})
        with pytest.raises(WitnessError, match="422"):
            HttpWitness(url).send(forged, [])
        assert all(w.head != forged for w in hub.witness.heads(log_id))
    finally:
        province.close()


def seed_org_people(services: Services) -> Org:
    """The people `seed_org` made, as actors."""
    return Org(*[services.identity.actor_by_username(u)  # type: ignore[misc]
                 for u, _, _ in ACCOUNTS])
