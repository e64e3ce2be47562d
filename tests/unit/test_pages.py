"""The browser pages through Flask's test client: Vietnamese first and English second (every
message translated, the compiled catalogue current), the language kept per person, and the
auditor's pages (trail search, CSV, the check of an event's proof) within the auditor's units."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from docflow.bootstrap import Services
from docflow.web import create_app
from tests.conftest import ORIGIN, Org, issued_document, log_in

WEB = Path(__file__).resolve().parents[2] / "docflow" / "web"
CATALOGUE = WEB / "translations" / "vi" / "LC_MESSAGES"


REFUSALS = ("Invalid", "Conflict", "Forbidden", "NotFound", "TooLarge", "Refused",
            "Unauthenticated", "TooManyAttempts", "fmt")


def _messages() -> set[str]:
    """The pages' texts, and the refusals raised with a fixed message (the pages translate
    them), as scripts/translations extracts them."""
    found = set()
    keywords: dict[str, object] = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None,
                                   "_s": ((1, "c"), 2), **dict.fromkeys(REFUSALS)}
    for folder in (WEB, WEB.parent / "domain", WEB.parent / "services"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                str(folder), keywords=keywords,  # type: ignore[arg-type]
                method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")]):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_its_vietnamese_and_the_compiled_catalogue_is_current() -> None:
    with (CATALOGUE / "messages.po").open("rb") as f:
        po = read_po(f, locale="vi")
    with (CATALOGUE / "messages.mo").open("rb") as f:
        mo = read_mo(f)
    def text(value: object) -> str | tuple[str, ...]:
        return value if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]

    translated = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): text(m.string)
                  for m in po if m.id and m.string and (m.string if isinstance(m.string, str)
                                                        else m.string[0])}
    missing = _messages() - {message for _, message in translated}
    assert not missing, f"untranslated (run scripts/translations, then translate): {missing}"
    assert not [m.id for m in po if m.id and m.fuzzy], "fuzzy entries are left out of the .mo"
    # (babel's .mo reader hands contexts back as bytes)
    compiled = {(m.context.decode() if isinstance(m.context, bytes) else m.context,
                 m.id if isinstance(m.id, str) else m.id[0]): text(m.string)
                for m in mo if m.id}
    assert compiled == translated, "the .mo is stale: run scripts/translations"




def _csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_pages_are_in_vietnamese_first_and_english_on_request(client: FlaskClient) -> None:
    page = client.get("/login")
    assert '<html lang="vi">' in page.text and "Đăng nhập" in page.text
    english = client.get("/login?lang=en")
    assert '<html lang="en">' in english.text and "Log in" in english.text
    assert "Log in" in client.get("/login").text  # kept for the session
    fresh = client.application.test_client()
    assert "Log in" in fresh.get("/login", headers={"Accept-Language": "en-GB,en"}).text


def test_a_persons_language_is_kept_with_their_account(client: FlaskClient, org: Org,
                                                       services: Services) -> None:
    log_in(client, "officer")
    token = _csrf(client, "/")
    client.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    assert services.identity.actor_by_username("officer").user.locale == "en"  # type: ignore[union-attr]
    other = client.application.test_client()
    log_in(other, "officer")  # a new browser: no session language, the account's
    assert "Incoming documents" in other.get("/").text


def test_the_auditor_searches_the_trail_and_checks_an_events_proof(
        client: FlaskClient, org: Org, services: Services) -> None:
    doc_id = issued_document(services, org)
    log_in(client, "auditor")
    page = client.get(f"/audit?document={doc_id}")
    assert page.status_code == 200
    assert "Nhật ký kiểm tra" in page.text and "Ký số" in page.text
    assert f"/api/v1/audit/documents/{doc_id}/evidence.pdf" in page.text
    sheet = client.get(f"/api/v1/audit/events?format=csv&document={doc_id}")
    assert sheet.mimetype == "text/csv" and "document.create" in sheet.text
    event = re.search(r'href="/audit/events/(\d+)"', page.text)
    assert event is not None
    proof = client.get(f"/audit/events/{event.group(1)}")
    assert "ĐÃ XÁC MINH" in proof.text, proof.text
    document = client.get(f"/documents/{doc_id}")
    assert "Nhật ký" in document.text and "Cấp số" in document.text
    assert '<iframe class="pdf"' in document.text  # the file itself, in the page

    other = client.application.test_client()
    log_in(other, "p2auditor")
    assert "Không có sự kiện nào phù hợp" in other.get(f"/audit?document={doc_id}").text
    assert other.get(f"/audit/events/{event.group(1)}").status_code == 404

    clerk = client.application.test_client()
    log_in(clerk, "clerk")
    assert clerk.get("/audit").status_code == 403
    assert "/audit" not in clerk.get("/").text.split("<main")[0]  # no menu entry either


def test_the_clerk_reads_the_registers_and_finds_words_without_diacritics(
        client: FlaskClient, org: Org, services: Services) -> None:
    doc_id = issued_document(services, org)
    symbol = services.documents.view(org.clerk, doc_id, ORIGIN).symbol
    assert symbol
    log_in(client, "clerk")
    page = client.get("/registers/outgoing?q=kiem+tra")
    assert "Sổ văn bản đi" in page.text and symbol in page.text
    assert "/api/v1/audit/statements/outgoing-register" in page.text
    assert symbol not in client.get("/registers/outgoing?q=khong+co+dau").text
    assert "Không có văn bản nào phù hợp" in client.get("/registers/incoming").text


def test_the_dashboard_draws_what_is_where_and_what_is_late(
        client: FlaskClient, org: Org, services: Services) -> None:
    issued_document(services, org)
    log_in(client, "clerk")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Tổng quan" in page.text
    assert page.text.count("<svg") == 1  # the documents by status; nothing else yet
    assert "issued: 1" in page.text  # the bar's own title
    assert page.text.count("Chưa có số liệu.") == 4  # nor any report request


def test_a_draft_goes_through_review_approval_and_numbering_in_the_pages(
        client: FlaskClient, org: Org, services: Services) -> None:
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.signatures import SignatureKind
    from tests.keys import test_keys
    from tests.pdfs import good_pdf

    doc = services.documents.draft(org.officer, DraftSpec("CV", "Về việc họp"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "cv.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)

    def press(username: str, action: str, **form: str) -> str:
        browser = client.application.test_client()
        log_in(browser, username)
        page = browser.get(f"/documents/{doc.id}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        done = browser.post(f"/documents/{doc.id}/{action}",
                            data={"csrf_token": token.group(1), **form},
                            follow_redirects=True)
        assert done.status_code == 200
        return done.text

    press("officer", "submit")
    assert "Góp ý" in press("leader", "comment", text="Sửa tiêu đề")
    press("leader", "pass")
    page = press("leader", "approve")
    # The signature is the leader's token's: a form the page's script hands to the agent.
    assert "data-sign" in page and "Ký bằng thiết bị ký số của tôi" in page
    services.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, test_keys().leader,
                             ORIGIN, position="CHỦ TỊCH")
    numbered = press("clerk", "number")
    assert "Ký số của cơ quan" in numbered  # the seal comes next
    refused = press("clerk", "seal")  # this server holds no seal for the unit
    assert 'role="alert"' in refused
    assert services.documents.view(org.clerk, doc.id, ORIGIN).status == "numbered"


def test_the_inbox_shows_what_is_late_and_filters(tmp_path: Path) -> None:
    from datetime import timedelta

    from docflow.bootstrap import bootstrap
    from docflow.domain.routing import DispatchTarget
    from storage.queue.inprocess import InProcessQueue
    from tests.clock import Clock
    from tests.conftest import embedded_settings, seed_org

    clock = Clock()
    services = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    try:
        org = seed_org(services)
        doc_id = issued_document(services, org)
        services.documents.dispatch(org.clerk, doc_id, DispatchTarget(("P01.X1",)), ORIGIN)
        assert isinstance(services.queue, InProcessQueue) and services.queue.join(10)
        entry = services.queries.inbox(org.commune_clerk)[0]
        services.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)
        due = (clock.at + timedelta(days=3)).date()
        services.handling.assign(org.commune_leader, entry.receipt_id, "Giao", "x1clerk", due,
                                 ORIGIN)
        clock.at += timedelta(days=10)
        app = create_app(services)
        app.testing = True
        client = app.test_client()
        log_in(client, "x1clerk")
        page = client.get("/")
        assert 'class="urgency-' in page.text and " overdue" in page.text
        assert "(quá hạn)" in page.text
        assert "quá hạn" in client.get("/?overdue=1").text
        assert "Không có văn bản đến nào phù hợp" in client.get("/?status=done").text
    finally:
        services.close()


def test_a_commune_registers_assigns_reports_progress_and_completes_in_the_pages(
        client: FlaskClient, org: Org, services: Services) -> None:
    from datetime import UTC, datetime, timedelta

    from docflow.domain.routing import DispatchTarget
    from storage.queue.inprocess import InProcessQueue

    doc_id = issued_document(services, org)
    services.documents.dispatch(org.clerk, doc_id, DispatchTarget(("P01.X1",)), ORIGIN)
    assert isinstance(services.queue, InProcessQueue) and services.queue.join(10)

    def press(username: str, action: str, **form: str) -> str:
        browser = client.application.test_client()
        log_in(browser, username)
        page = browser.get(f"/documents/{doc_id}")
        found = re.search(r'action="/receipts/([^/]+)/' + action + '"', page.text)
        assert found is not None, (username, action)
        done = browser.post(f"/receipts/{found.group(1)}/{action}",
                            data={"csrf_token": _csrf(browser, "/"), **form},
                            follow_redirects=True)
        assert done.status_code == 200
        return done.text

    press("x1clerk", "register")
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    press("x1leader", "assign", annotation="Triển khai ngay", lead="x1clerk", deadline=due)
    press("x1clerk", "progress", text="Đã họp triển khai")
    page = press("x1clerk", "complete")
    assert "Đã xong" in page
    entry = services.queries.inbox(org.commune_clerk)[0]
    assert entry.status == "done"


def test_the_leaders_queue_lists_what_waits_on_them_and_signs_a_selection(
        client: FlaskClient, org: Org, services: Services) -> None:
    """Review rounds, submissions and approvals of the units they lead, with a box to pick
    each approved one; a batch's page shows each document's progress."""
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.signatures import SignatureKind
    from tests.conftest import approve
    from tests.keys import test_keys
    from tests.pdfs import good_pdf

    def drafted(abstract: str) -> str:
        doc = services.documents.draft(org.officer, DraftSpec("CV", abstract), ORIGIN)
        services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                                  io.BytesIO(good_pdf()), ORIGIN)
        return doc.id

    drafted("Vẫn là dự thảo")
    under_review = drafted("Đang chờ xem xét")
    services.documents.submit(org.officer, under_review, ORIGIN)
    approved = drafted("Đã phê duyệt, chờ ký")
    approve(services, org.officer, org.leader, approved)

    log_in(client, "leader")
    page = client.get("/approvals").text
    assert "Vẫn là dự thảo" not in page
    assert "Đang chờ xem xét" in page and "bạn xem xét" in page
    assert f'value="{approved}"' in page and f'value="{under_review}"' not in page
    assert 'form="sign"' in page and "signing.js" in page
    officer = client.application.test_client()
    log_in(officer, "officer")
    assert "Không có văn bản nào chờ bạn." in officer.get("/approvals").text
    assert "Chờ lãnh đạo" not in officer.get("/").text  # not in an officer's menu

    signer = test_keys().leader.signer
    cert = signer.signing_cert.dump()
    batch, items, prepared = services.batches.prepare(
        org.leader, [approved, under_review], SignatureKind.LEADER, cert, [], ORIGIN,
        position="CHỦ TỊCH")
    waiting = client.get(f"/batches/{batch.id}").text
    assert 'http-equiv="refresh"' in waiting and "chờ thiết bị ký số" in waiting
    assert "lỗi" in waiting  # the one under review cannot be signed yet, and says why
    ready = [i for i in items if i.id in prepared]
    services.batches.submit_values(org.leader, batch.id, {  # what the token agent does
        i.id: signer.sign_raw(prepared[i.id].data_to_be_signed, "sha256") for i in ready})
    assert services.queue.join(30)  # type: ignore[attr-defined]
    done = client.get(f"/batches/{batch.id}").text
    assert 'http-equiv="refresh"' not in done
    assert "Đã ký: 1" in done and "Lỗi: 1" in done
    other = client.application.test_client()
    log_in(other, "clerk")
    assert other.get(f"/batches/{batch.id}").status_code == 404  # only its leader's


def test_a_province_asks_its_communes_for_a_report_and_one_answers_in_the_pages(
        client: FlaskClient, org: Org, services: Services) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.unit.test_reports import report_of

    leader = client.application.test_client()
    log_in(leader, "leader")
    due = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    asked = leader.post("/reports", data={
        "csrf_token": _csrf(leader, "/reports"), "unit": "P01", "title": "Báo cáo quý IV",
        "details": "Theo mẫu", "deadline": due, "level": "commune"}, follow_redirects=True)
    assert asked.status_code == 200 and "Báo cáo quý IV" in asked.text
    request_id = services.reports.involving(org.leader)[0].id
    assert asked.text.count("<td>chưa nộp</td>") == 3  # the three communes owe it
    assert "Bản tổng hợp (PDF)" in asked.text

    commune = client.application.test_client()
    log_in(commune, "x1clerk")
    listed = commune.get("/reports").text
    assert "đơn vị bạn chưa nộp" in listed
    page = commune.get(f"/reports/{request_id}").text
    assert "Soạn báo cáo thành văn bản" in page  # nothing issued to send yet
    report = report_of(services, org.commune_leader, org.commune_clerk, "Báo cáo của xã Một")
    page = commune.get(f"/reports/{request_id}").text
    assert f'value="{report}"' in page
    sent = commune.post(f"/reports/{request_id}/submit", data={
        "csrf_token": _csrf(commune, f"/reports/{request_id}"), "unit": "P01.X1",
        "document": report}, follow_redirects=True).text
    assert "Đã gửi báo cáo." in sent and "đúng hạn" in sent
    assert commune.post(f"/reports/{request_id}/close", data={
        "csrf_token": _csrf(commune, f"/reports/{request_id}")},
        follow_redirects=True).status_code == 200
    assert services.reports.get(org.leader, request_id).status.value == "open"  # not theirs

    board = leader.get("/dashboard").text
    assert "Báo cáo còn thiếu, theo yêu cầu" in board and "Báo cáo quý IV" in board
    reminded = leader.post(f"/reports/{request_id}/remind", data={
        "csrf_token": _csrf(leader, f"/reports/{request_id}")}, follow_redirects=True).text
    assert "Đã nhắc: P01.X2, P01.X3" in reminded


def test_the_document_page_shows_the_cascade_level_by_level(
        client: FlaskClient, org: Org, services: Services) -> None:
    from docflow.domain.routing import DispatchTarget

    doc_id = issued_document(services, org)
    services.documents.dispatch(org.clerk, doc_id, DispatchTarget(("P01.X1", "P01.X2")), ORIGIN)
    assert services.queue.join(30)  # type: ignore[attr-defined]
    log_in(client, "clerk")
    page = client.get(f"/documents/{doc_id}").text
    assert "Văn bản đi xuống các cấp" in page and "Cơ quan ban hành gửi" in page
    assert "Hội LHPN xã Một" in page and "Hội LHPN xã Hai" in page
    commune = client.application.test_client()
    log_in(commune, "x2clerk")  # sees its own entry, not the other commune's
    page = commune.get(f"/documents/{doc_id}").text
    assert "Hội LHPN xã Hai" in page and "Hội LHPN xã Một" not in page
    assert commune.get(f"/documents/{doc_id}?unit=P01.X1").status_code == 200  # no tree


def test_a_refusal_is_shown_in_the_pages_language(client: FlaskClient, org: Org,
                                                  services: Services) -> None:
    from docflow.domain.documents import DraftSpec

    doc = services.documents.draft(org.officer, DraftSpec("CV", "Về việc"), ORIGIN)
    log_in(client, "officer")
    page = client.post(f"/documents/{doc.id}/submit", data={
        "csrf_token": _csrf(client, f"/documents/{doc.id}")}, follow_redirects=True).text
    assert "dự thảo chưa có tệp chính" in page  # "the draft has no main file yet"
    client.post("/language", data={"csrf_token": _csrf(client, "/"), "lang": "en"})
    page = client.post(f"/documents/{doc.id}/submit", data={
        "csrf_token": _csrf(client, f"/documents/{doc.id}")}, follow_redirects=True).text
    assert "the draft has no main file yet" in page

    # One that names things is said from its template, filled with the same names.
    leader = client.application.test_client()
    csrf = log_in(leader, "leader")
    page = leader.post("/delegations", data={
        "csrf_token": csrf, "unit": "P01", "grantee": "x1clerk", "authority": "TL.",
        "from": "2026-01-01", "to": "2026-12-31", "reason": "Giấy ủy quyền"},
        follow_redirects=True).text
    assert "x1clerk không thuộc đơn vị P01" in page


def test_the_document_page_says_what_its_signatures_are_worth(
        client: FlaskClient, org: Org, services: Services) -> None:
    """Validated once (kept by the file's sha256) and said in plain words: here without a
    trusted CA configured, intact signatures are 'not established'; with one, valid."""
    from pathlib import Path

    from tests.keys import test_keys

    doc_id = issued_document(services, org)
    log_in(client, "clerk")
    page = client.get(f"/documents/{doc_id}").text
    assert "Chưa xác định: các chữ ký còn nguyên vẹn" in page
    assert page.count("<td>Leader") == 1 and page.count("<td>Seal") == 1
    assert "Chữ ký số của cơ quan (đóng dấu)" in page  # the records of docflow's own
    trust = Path(services.settings.data_dir) / "trust"
    trust.mkdir(exist_ok=True)
    from cryptography.hazmat.primitives.serialization import Encoding

    (trust / "ca.pem").write_bytes(test_keys().ca.public_bytes(Encoding.PEM))
    other = issued_document(services, org)  # a new file: validated with the anchor now
    assert "Hợp lệ: mọi chữ ký còn nguyên vẹn" in client.get(f"/documents/{other}").text
