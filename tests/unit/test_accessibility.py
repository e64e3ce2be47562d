"""Obvious accessibility faults on every main page: a language on <html>, ids used once, a
label for every form control, a name for every button and link, text for images. (Contrast and
keyboard use are checked in a real browser: tests/e2e/test_browser.py.)"""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

from flask.testing import FlaskClient

from docflow.bootstrap import Services
from tests.conftest import PASSWORD, Org, issued_document, log_in


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.ids: Counter[str] = Counter()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.open_labels = 0
        self.open_buttons: list[dict[str, str | None]] = []
        self.open_links: list[dict[str, str | None]] = []
        self.unnamed: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if a.get("id"):
            self.ids[a["id"] or ""] += 1
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"] or "")
        if tag in ("input", "select", "textarea") and a.get("type") not in (
                "hidden", "submit", "button"):
            self.controls.append({**a, "_wrapped": "1" if self.open_labels else None})
        if tag == "button":
            self.open_buttons.append({**a, "_text": ""})
        if tag == "a":
            self.open_links.append({**a, "_text": ""})
        if tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1
        for kind, stack in (("button", self.open_buttons), ("a", self.open_links)):
            if tag == kind and stack:
                item = stack.pop()
                if not (item["_text"] or "").strip() and not item.get("aria-label"):
                    self.unnamed.append(f"<{kind} {item}>")

    def handle_data(self, data: str) -> None:
        for stack in (self.open_buttons, self.open_links):
            for item in stack:
                item["_text"] = (item["_text"] or "") + data


def _faults(html: str) -> list[str]:
    page = _Page()
    page.feed(html)
    faults = []
    if page.lang not in ("vi", "en"):
        faults.append(f"<html lang> is {page.lang!r}")
    faults += [f"id {i!r} used {n} times" for i, n in page.ids.items() if n > 1]
    for control in page.controls:
        named = (control.get("id") in page.label_for or control.get("_wrapped")
                 or control.get("aria-label"))
        if not named:
            faults.append(f"no label for {control}")
    faults += [f"a control's label points at nothing: {f}" for f in page.label_for
               if f not in page.ids]
    faults += page.unnamed
    faults += [f"image without alt: {i}" for i in page.images if i.get("alt") is None]
    return faults




def test_the_main_pages_have_no_obvious_accessibility_faults(
        client: FlaskClient, org: Org, services: Services) -> None:
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.org import Role
    from tests.conftest import ORIGIN, approve
    from tests.pdfs import good_pdf

    doc_id = issued_document(services, org)
    to_sign = services.documents.draft(org.officer, DraftSpec("CV", "Về việc ký"), ORIGIN)
    services.documents.attach(org.officer, to_sign.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    approve(services, org.officer, org.leader, to_sign.id)
    services.identity.add_user("admin", "Quản trị", PASSWORD, [("P01", Role.ADMIN)], ORIGIN)
    from datetime import UTC, datetime, timedelta

    from docflow.domain.routing import DispatchTarget

    asked = services.reports.request(
        org.leader, "P01", "Báo cáo quý", "", datetime.now(UTC).date() + timedelta(days=9),
        DispatchTarget(level="commune", under="P01"), ORIGIN)
    assert _faults(client.get("/login").text) == []
    pages = {"clerk": ["/", "/documents/new", f"/documents/{doc_id}", "/registers/outgoing",
                       "/registers/incoming", "/dashboard"],
             "leader": ["/approvals", f"/documents/{to_sign.id}", "/profile", "/delegations",
                        "/reports", f"/reports/{asked.id}"],
             "admin": ["/admin"],
             "auditor": ["/audit", f"/audit?document={doc_id}", f"/documents/{doc_id}"]}
    for username, paths in pages.items():
        browser = client.application.test_client()
        log_in(browser, username)
        for path in paths:
            page = browser.get(path)
            assert page.status_code == 200, (username, path)
            assert _faults(page.text) == [], (username, path)


def test_the_check_finds_the_faults_it_looks_for() -> None:
    bad = ('<html><main id="main"><label for="main">File</label>'
           '<input id="main" type="file"><input name="q"><button></button>'
           '<a href="/x"></a><img src="a.png"><label for="gone">?</label></main></html>')
    faults = _faults(bad)
    assert any("<html lang>" in f for f in faults)
    assert any("id 'main' used 2 times" in f for f in faults)
    assert any("no label for" in f and "'q'" in f for f in faults)
    assert any(f.startswith("<button") for f in faults)
    assert any(f.startswith("<a") for f in faults)
    assert any("image without alt" in f for f in faults)
    assert any("points at nothing: gone" in f for f in faults)
