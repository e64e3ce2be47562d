"""The first command of the README on a fresh data folder: demo, then serve, then a browser-like
login and the demo's directive on the page. No servers."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.e2e.conftest import DOCFLOW, children, command_line, free_port


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCFLOW, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_demo_then_serve_shows_the_demo_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
    env["DOCFLOW_DATA_DIR"] = str(tmp_path / "var")
    first = run(["demo", "--communes", "12"], env)
    assert first.returncode == 0, first.stderr
    assert "Directive 01/CT-HPN sent to 12 communes" in first.stdout
    again = run(["demo", "--communes", "12"], env)  # runs twice: a second directive
    assert again.returncode == 0 and "02/CT-HPN" in again.stdout, again.stderr
    fresh = run(["demo", "--communes", "12", "--reset"], env)
    assert fresh.returncode == 0 and "01/CT-HPN" in fresh.stdout, fresh.stderr
    password = re.search(r"tinh\.vanthu\s+(\S+)", fresh.stdout)
    assert password is not None
    # The demo signs and seals its directive with the internal PKI it made: with the same
    # settings the issued PDF verifies; with none, it cannot be VALID.
    issued = str(tmp_path / "var" / "demo-issued.pdf")
    assert run(["verify", issued], env).returncode == 0
    elsewhere = {**env, "DOCFLOW_DATA_DIR": str(tmp_path / "elsewhere")}
    assert run(["verify", issued], elsewhere).returncode == 3

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([DOCFLOW, "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPCookieProcessor(jar))
        deadline = time.monotonic() + 30
        while True:
            try:
                with opener.open(f"{base}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        with opener.open(f"{base}/login") as r:
            page = r.read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        form = urllib.parse.urlencode({"csrf_token": csrf.group(1), "username": "tinh.vanthu",
                                       "password": password.group(1)}).encode()
        with opener.open(f"{base}/login", data=form) as r:
            home = r.read().decode()
        assert "01/CT-HPN" in home and "Lê Thị Mai" in home
        # A validation through the server: its web process (a fork of gunicorn's master)
        # validates through the zygote the master started, not one of its own.
        token = re.search(r'name="csrf_token" value="([^"]+)"', home)
        assert token is not None
        check = urllib.request.Request(
            f"{base}/api/v1/validations", method="POST", data=Path(issued).read_bytes(),
            headers={"Content-Type": "application/pdf", "X-CSRF-Token": token.group(1)})
        with opener.open(check) as r:
            assert json.load(r)["verdict"] == "VALID"
        zygotes = [c for c in children(server.pid)
                   if "docflow.signing.isolation" in command_line(c)]
        web = [c for c in children(server.pid) if c not in zygotes]
        assert len(zygotes) == 1 and web
        assert not any("docflow.signing.isolation" in command_line(g)
                       for w in web for g in children(w))
    finally:
        server.terminate()
        server.wait(20)
        log.close()


def test_after_the_demo_the_server_holds_the_province_seal(tmp_path: Path) -> None:
    """The demo writes pki/seals.toml; the next start holds the province's seal, and its clerk
    seals a new directive through the API with it."""
    import io

    from cryptography import x509

    from docflow.bootstrap import bootstrap
    from docflow.config import Settings
    from docflow.domain.audit import Origin
    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.signatures import SignatureKind
    from docflow.signing.keys import PadesKey
    from docflow.signing.pki import open_local_pki
    from docflow.signing.signers import load_pkcs12
    from docflow.signing.validation import Verdict, validate_pdf
    from docflow.web import create_app
    from tests.pdfs import good_pdf

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
    env["DOCFLOW_DATA_DIR"] = str(tmp_path / "var")
    done = run(["demo", "--communes", "3"], env)
    assert done.returncode == 0, done.stderr
    password = re.search(r"tinh\.vanthu\s+(\S+)", done.stdout)
    assert password is not None

    services = bootstrap(Settings.from_env(env))
    try:
        assert services.seals.units() == ["T48"]
        by = Origin(via="cli")
        officer, leader = (services.identity.actor_by_username(u)
                           for u in ("tinh.chuyenvien", "tinh.lanhdao"))
        assert officer is not None and leader is not None
        doc = services.documents.draft(officer, DraftSpec("CV", "Về việc đóng dấu"), by)
        services.documents.attach(officer, doc.id, RevisionKind.MAIN, "cv.pdf",
                                  io.BytesIO(good_pdf()), by)
        services.documents.submit(officer, doc.id, by)
        services.documents.pass_review(leader, doc.id, by)
        services.documents.approve(leader, doc.id, by)
        local = open_local_pki(tmp_path / "var" / "pki")
        assert local is not None
        services.signatures.sign(leader, doc.id, SignatureKind.LEADER,
                                 PadesKey(load_pkcs12(local.files.leader_p12, local.passphrase)),
                                 by, position="CHỦ TỊCH")

        client = create_app(services).test_client()
        login = client.post("/api/v1/session", json={"username": "tinh.vanthu",
                                                      "password": password.group(1)})
        headers = {"X-CSRF-Token": login.json["csrf_token"]}  # type: ignore[index]
        numbered = client.post(f"/api/v1/documents/{doc.id}/number", headers=headers)
        assert numbered.status_code == 200, numbered.json
        assert numbered.json["status"] == "numbered"  # type: ignore[index]
        sealed = client.post(f"/api/v1/documents/{doc.id}/seal", headers=headers, json={})
        assert sealed.status_code == 201, sealed.json
        assert sealed.json["kind"] == "seal"  # type: ignore[index]
        shown = client.get(f"/api/v1/documents/{doc.id}").json
        assert shown["status"] == "issued"  # type: ignore[index]  # the seal issued it
        with client.get(f"/api/v1/documents/{doc.id}/revisions/"
                        f"{sealed.json['revision_id']}/content") as pdf:  # type: ignore[index]
            data = pdf.data
        ca = x509.load_pem_x509_certificate(local.files.ca_cert.read_bytes())
        report = validate_pdf(data, trust_roots=[ca], isolate=False)
        assert report.verdict is Verdict.VALID, report.to_json()
        assert [s.field for s in report.signatures] == ["Leader", "Seal"]
    finally:
        services.close()
