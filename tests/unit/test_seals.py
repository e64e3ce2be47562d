"""Organisation seals the server holds: the keys file, sealing through the service (PKCS#12
and an HSM), batches of seals as jobs, and the refusals."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from docflow.bootstrap import Services, bootstrap
from docflow.config import ConfigError
from docflow.domain.documents import DocumentStatus, DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden
from docflow.domain.signatures import BatchItemStatus, SignatureKind
from docflow.signing import pki
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.seals import SealConfigError, SealKeyring
from docflow.signing.signers import load_pkcs12
from docflow.signing.validation import Verdict, validate_pdf
from tests.conftest import ORIGIN, Org, approve, embedded_settings, seed_org
from tests.pdfs import good_pdf
from tests.softhsm import make_token

PASS = "seal-passphrase"


@dataclass(frozen=True)
class Keys:
    files: pki.PkiFiles
    authority: pki.Authority
    leader: PadesKey


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("pki")
    files = pki.init_pki(folder, passphrase=PASS.encode(), now=datetime.now(UTC))
    (folder / "passphrase").write_text(PASS + "\n")
    (folder / "seal.png").write_bytes(demo_seal_png())
    return Keys(files, pki.load_authority(files, PASS.encode()),
                PadesKey(load_pkcs12(files.leader_p12, PASS.encode()),
                         signature_image=demo_signature_png()))


def seals_file(keys: Keys, body: str | None = None) -> Path:
    path = keys.files.directory / "seals.toml"
    path.write_text(body if body is not None else
                    '[units.P01]\npkcs12 = "seal.p12"\npassphrase_file = "passphrase"\n'
                    'image = "seal.png"\n')
    return path


@pytest.fixture
def world(tmp_path: Path, keys: Keys) -> Iterator[tuple[Services, Org]]:
    svc = bootstrap(embedded_settings(tmp_path / "var",
                                      DOCFLOW_SEAL_KEYS=str(seals_file(keys))),
                    upgrade_embedded=True)
    yield svc, seed_org(svc)
    svc.close()


def ready_to_seal(svc: Services, org: Org, keys: Keys) -> str:
    """Approved, signed by the leader, numbered: what the clerk seals."""
    doc = svc.documents.draft(org.officer, DraftSpec("QĐ", "Về việc đóng dấu"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.ATTACHMENT, "phu-luc.pdf",
                         io.BytesIO(good_pdf("PHU LUC")), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    svc.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, keys.leader, ORIGIN,
                        position="CHỦ TỊCH")
    svc.documents.number(org.clerk, doc.id, ORIGIN)
    return doc.id


def newest(svc: Services, org: Org, doc_id: str, kind: RevisionKind) -> bytes:
    doc = svc.documents.view(org.clerk, doc_id, ORIGIN)
    revision = max((r for r in doc.revisions if r.kind is kind), key=lambda r: r.seq)
    with svc.blobs.open(revision.sha256) as f:
        return f.read()


def ca(keys: Keys) -> x509.Certificate:
    return keys.authority.cert


def test_the_clerk_seals_with_the_unit_seal_the_server_holds(world: tuple[Services, Org],
                                                           keys: Keys) -> None:
    svc, org = world
    doc_id = ready_to_seal(svc, org, keys)
    record = svc.signatures.seal(org.clerk, doc_id, ORIGIN)
    assert record.kind is SignatureKind.SEAL
    assert svc.documents.view(org.clerk, doc_id, ORIGIN).status is DocumentStatus.ISSUED
    assert "docflow demo organisation" in record.signer_subject
    report = validate_pdf(newest(svc, org, doc_id, RevisionKind.MAIN), trust_roots=[ca(keys)],
                          isolate=False)
    assert report.verdict is Verdict.VALID, report.to_json()
    assert [s.field for s in report.signatures] == ["Leader", "Seal"]

    attachment = next(r for r in svc.documents.view(org.clerk, doc_id, ORIGIN).revisions
                      if r.kind is RevisionKind.ATTACHMENT)
    svc.signatures.seal(org.clerk, doc_id, ORIGIN, revision_id=attachment.id)
    report = validate_pdf(newest(svc, org, doc_id, RevisionKind.ATTACHMENT),
                          trust_roots=[ca(keys)], isolate=False)
    assert report.verdict is Verdict.VALID and report.signatures[0].field == "Attachment-1"

    with pytest.raises(Conflict, match="seal is on this document already"):
        svc.signatures.seal(org.clerk, doc_id, ORIGIN)


def test_refusals_come_before_the_key_and_name_the_reason(world: tuple[Services, Org],
                                                         keys: Keys) -> None:
    svc, org = world
    doc_id = ready_to_seal(svc, org, keys)
    with pytest.raises(Forbidden, match="clerk"):
        svc.signatures.seal(org.officer, doc_id, ORIGIN)
    # A commune's document: the server holds no seal for P01.X1.
    doc = svc.documents.draft(org.commune_leader, DraftSpec("CV", "Về việc xã"), ORIGIN)
    svc.documents.attach(org.commune_leader, doc.id, RevisionKind.MAIN, "cv.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.commune_leader, org.commune_leader, doc.id)
    svc.signatures.sign(org.commune_leader, doc.id, SignatureKind.LEADER, keys.leader, ORIGIN,
                        position="CHỦ TỊCH")
    svc.documents.number(org.commune_clerk, doc.id, ORIGIN)
    with pytest.raises(Conflict, match=r"no organisation seal for unit P01\.X1"):
        svc.signatures.seal(org.commune_clerk, doc.id, ORIGIN)
    assert svc.signatures.signatures(org.commune_clerk, doc.id)[-1].kind is SignatureKind.LEADER
    assert svc.documents.view(org.commune_clerk, doc.id, ORIGIN).status \
        is DocumentStatus.NUMBERED  # not issued without its seal


def test_a_batch_of_seals_runs_one_job_per_document(world: tuple[Services, Org],
                                                    keys: Keys) -> None:
    svc, org = world
    good = [ready_to_seal(svc, org, keys) for _ in range(3)]
    unsigned = svc.documents.draft(org.officer, DraftSpec("CV", "Chưa ký"), ORIGIN).id
    batch, items = svc.batches.seal(org.clerk, [*good, unsigned, good[0]])
    assert len(items) == 4  # the repeated id counts once
    svc.queue.join()  # type: ignore[attr-defined]
    progress = {i.document_id: i for i in svc.batches.items(org.clerk, batch.id)}
    assert all(progress[d].status is BatchItemStatus.SIGNED for d in good)
    assert progress[unsigned].status is BatchItemStatus.FAILED
    assert progress[unsigned].error
    for doc_id in good:
        assert [r.kind for r in svc.signatures.signatures(org.clerk, doc_id)] == [
            SignatureKind.LEADER, SignatureKind.SEAL]
        assert svc.documents.view(org.clerk, doc_id, ORIGIN).status is DocumentStatus.ISSUED
    # Run again (a retried job): nothing changes, no second seal.
    item = next(i for i in items if i.document_id == good[1])
    assert svc.batches.seal_item(item.id) is BatchItemStatus.SIGNED
    assert len(svc.signatures.signatures(org.clerk, good[1])) == 2


def test_an_hsm_seal(tmp_path: Path, keys: Keys, softhsm_tokens: tuple[str, ...]) -> None:
    token = make_token(softhsm_tokens, keys.authority, label="docflow-seals",
                       key_label="seal-p01", common_name="Hoi LHPN tinh Mot (seal)")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(keys.files.ca_cert.read_bytes())
    (tmp_path / "hsm-pin").write_text(token.pin + "\n")
    conf = tmp_path / "seals.toml"
    conf.write_text(f'[units.P01]\npkcs11_module = "{token.module}"\n'
                    f'token_label = "{token.label}"\nkey_label = "{token.key_label}"\n'
                    f'pin_file = "hsm-pin"\nchain = ["ca.pem"]\n')
    svc = bootstrap(embedded_settings(tmp_path / "var", DOCFLOW_SEAL_KEYS=str(conf)),
                    upgrade_embedded=True)
    try:
        org = seed_org(svc)
        first, second = ready_to_seal(svc, org, keys), ready_to_seal(svc, org, keys)
        for doc_id in (first, second):  # one login for both
            svc.signatures.seal(org.clerk, doc_id, ORIGIN)
            report = validate_pdf(newest(svc, org, doc_id, RevisionKind.MAIN),
                                  trust_roots=[ca(keys)], isolate=False)
            assert report.verdict is Verdict.VALID, report.to_json()
            assert "Hoi LHPN tinh Mot (seal)" in (report.signatures[1].signer or "")
    finally:
        svc.close()


@pytest.mark.parametrize(("body", "message"), [
    ("[units.P01]\npkcs12 = 'seal.p12'\n", "passphrase_file is required"),
    ("[units.P01]\npkcs12 = 'seal.p12'\npassphrase_file = 'absent'\n",
     "passphrase_file: no such file"),
    ("[units.P01]\npkcs12 = 'nope.p12'\npassphrase_file = 'passphrase'\n",
     "units.P01.pkcs12: no such file"),
    ("[units.P01]\npkcs12 = 'seal.p12'\npassphrase_file = 'passphrase'\npin = '1'\n",
     "unknown field"),
    ("[units.P01]\nimage = 'seal.png'\n", "give pkcs12"),
    ("[units.P01]\npkcs11_module = '/usr/lib/softhsm/libsofthsm2.so'\npin_file = 'x'\n",
     "token_label is required"),
    ("[units.P01]\npkcs12 = 'seal.p12'\npassphrase_env = 'X'\n", "unknown field"),
    ("[seals]\n", r"only \[units\.<code>\]"),
    ("[units.P01\n", "not valid TOML"),
])
def test_a_bad_keys_file_is_refused_naming_the_field(keys: Keys, body: str,
                                                     message: str) -> None:
    with pytest.raises(SealConfigError, match=message):
        SealKeyring.load(seals_file(keys, body))


def test_a_bad_keys_file_stops_the_process_at_start(tmp_path: Path, keys: Keys) -> None:
    path = seals_file(keys, "[units.P01]\npkcs12 = 'seal.p12'\n")
    with pytest.raises(ConfigError, match="DOCFLOW_SEAL_KEYS"):
        bootstrap(embedded_settings(tmp_path, DOCFLOW_SEAL_KEYS=str(path)))
    with pytest.raises(ConfigError, match="no such file"):
        embedded_settings(tmp_path, DOCFLOW_SEAL_KEYS=str(tmp_path / "absent.toml"))


def test_the_data_folder_seals_file_is_the_default(tmp_path: Path) -> None:
    assert embedded_settings(tmp_path).seal_keys is None
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "seals.toml").write_text("[units]\n")
    assert embedded_settings(tmp_path).seal_keys == tmp_path / "pki" / "seals.toml"
