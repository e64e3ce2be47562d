"""`docflow pki init`, then signatures made with its keys, checked by `docflow verify` and by
POST /api/v1/validations, as a clerk or an auditor would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from docflow.cli import main
from docflow.signing import pades
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.signers import load_pkcs12
from tests.pdfs import good_pdf


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DOCFLOW_DATABASE_URL", "DOCFLOW_REDIS_URL", "DOCFLOW_S3_ENDPOINT",
                 "DOCFLOW_TRUST_ANCHORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DOCFLOW_FAST_PASSWORD_HASHING", "1")
    return tmp_path / "var"


def signed_by_pki(pki: Path) -> bytes:
    passphrase = (pki / "passphrase").read_text().encode()
    leader = load_pkcs12(pki / "leader.p12", passphrase)
    seal = load_pkcs12(pki / "seal.p12", passphrase)
    first = pades.sign_leader(good_pdf(), leader, authority="KT.", position="CHỦ TỊCH",
                              full_name="Trần Thị Hoa", signature_image=demo_signature_png())
    return pades.sign_seal(first.pdf, seal, seal_image=demo_seal_png()).pdf


def test_pki_init_then_verify_with_exit_codes(data_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cli = CliRunner()
    made = cli.invoke(main, ["pki", "init"])
    assert made.exit_code == 0, made.output
    assert (data_dir / "trust" / "docflow-internal-ca.pem").exists()
    again = cli.invoke(main, ["pki", "init"])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signed_by_pki(data_dir / "pki"))

    valid = cli.invoke(main, ["verify", str(signed), "--json"])
    assert valid.exit_code == 0, valid.output
    report = json.loads(valid.output)
    assert report["verdict"] == "VALID"
    assert [s["field"] for s in report["signatures"]] == ["Leader", "Seal"]
    assert all(s["trusted"] and s["intact"] for s in report["signatures"])

    # Other settings, trusting nothing: the same file cannot be VALID.
    monkeypatch.setenv("DOCFLOW_DATA_DIR", str(tmp_path / "elsewhere"))
    untrusted = cli.invoke(main, ["verify", str(signed)])
    assert untrusted.exit_code == 3 and untrusted.output.startswith("INDETERMINATE")
    # An explicit --trust replaces the configured anchors.
    trusted = cli.invoke(main, ["verify", str(signed), "--trust",
                                str(data_dir / "pki" / "ca.pem")])
    assert trusted.exit_code == 0, trusted.output

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(signed.read_bytes())
    data[200] ^= 0x01
    tampered.write_bytes(bytes(data))
    assert cli.invoke(main, ["verify", str(tampered), "--trust",
                             str(data_dir / "pki" / "ca.pem")]).exit_code == 1
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(good_pdf())
    assert cli.invoke(main, ["verify", str(unsigned)]).exit_code == 4
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("hello")
    assert cli.invoke(main, ["verify", str(signed), "--trust", str(not_a_cert)]).exit_code == 2
    assert cli.invoke(main, ["verify", str(tmp_path / "missing.pdf")]).exit_code == 2


def test_the_validation_endpoint_reports_like_the_command(data_dir: Path) -> None:
    from docflow.bootstrap import bootstrap
    from docflow.config import Settings
    from docflow.web import create_app
    from tests.conftest import PASSWORD, seed_org

    assert CliRunner().invoke(main, ["pki", "init"]).exit_code == 0
    services = bootstrap(Settings.from_env({"DOCFLOW_DATA_DIR": str(data_dir),
                                            "DOCFLOW_FAST_PASSWORD_HASHING": "1"}),
                         upgrade_embedded=True)
    try:
        seed_org(services)
        client = create_app(services).test_client()
        pdf = signed_by_pki(data_dir / "pki")
        assert client.post("/api/v1/validations", data=pdf).status_code == 401
        login = client.post("/api/v1/session", json={"username": "clerk", "password": PASSWORD})
        headers = {"X-CSRF-Token": login.json["csrf_token"], "Content-Type": "application/pdf"}
        answer = client.post("/api/v1/validations", data=pdf, headers=headers)
        assert answer.status_code == 200, answer.json
        assert answer.json["verdict"] == "VALID" and len(answer.json["signatures"]) == 2
        broken = client.post("/api/v1/validations", data=b"%PDF-1.7 garbage", headers=headers)
        assert broken.json["verdict"] == "INVALID"
        assert broken.json["reasons"][0]["code"] == "FORMAT_FAILURE"
    finally:
        services.close()


def test_the_command_loads_no_service_until_one_is_needed() -> None:
    """`docflow verify` needs no database or server, and does not import them: the command
    module leaves the service (SQLAlchemy, Flask, the repositories) to the commands using it."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, docflow.cli; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert not {"docflow.bootstrap", "sqlalchemy", "flask", "storage.db.repositories"} \
        & set(loaded)
