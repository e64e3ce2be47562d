"""The pages in a real browser: Debian's Chromium driven by Playwright (headless, no browser
download, nothing reached but loopback), as people use them, in Vietnamese, on a desk screen and
a phone's. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from docflow.bootstrap import Services, bootstrap
from docflow.web import create_app
from tests.conftest import ORIGIN, PASSWORD, Org, embedded_settings, issued_document, seed_org
from tests.e2e.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("DOCFLOW_TEST_ARTIFACTS",
                            Path(__file__).resolve().parents[2] / "test-artifacts")) / "screenshots"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get(
    "DOCFLOW_TEST_REQUIRE_SERVERS"), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, and no name lookups at all: only loopback is there to reach.

    Playwright's sync API keeps an event loop running in this thread while it is started, so
    it lives for this module only (pyHanko's asyncio.run elsewhere must find no loop), and the
    tests prepare their documents on another thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
                  "EXCLUDE 127.0.0.1"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="vi-VN", accept_downloads=True)
    yield context.new_page()
    context.close()


def expect(locator: Any) -> Any:
    """Playwright's retrying assertion (the page may still be loading after a click)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def off_thread(work: Any, *args: Any) -> Any:
    """Run `work` on its own thread (where no event loop runs) and return its result."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work(*args))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    return result[0]


def _served(folder: Path, **settings: str) -> Iterator[tuple[Services, Org, str]]:
    """The embedded default with the test organisation, served over HTTP on loopback."""
    services = bootstrap(embedded_settings(folder, **settings), upgrade_embedded=True)
    org = seed_org(services)
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield services, org, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)
        services.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Services, Org, str]]:
    yield from _served(tmp_path / "var")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _press(page: Any, name: str) -> None:
    """Click a button that submits a form, and wait for the page it leads to."""
    with page.expect_navigation(wait_until="domcontentloaded"):  # not the PDF frame's load
        page.get_by_role("button", name=name, exact=True).click()


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def test_an_auditor_follows_a_document_through_the_trail(
        site: tuple[Services, Org, str], page: Any) -> None:
    services, org, base = site
    doc_id = off_thread(issued_document, services, org)
    page.set_extra_http_headers({"Accept-Language": "vi-VN,vi"})
    _log_in(page, base, "auditor")
    _shot(page, "home-auditor")
    page.get_by_role("link", name="Nhật ký kiểm tra").click()
    page.get_by_label("Mã văn bản").fill(doc_id)
    _press(page, "Tìm kiếm")
    rows = page.locator("tbody tr")
    assert rows.count() >= 8
    assert page.get_by_role("cell", name="Ký số").count() == 2  # leader, seal
    _shot(page, "audit-search")
    with page.expect_download() as download:
        page.get_by_role("link", name="Xuất CSV").click()
    assert "document.create" in Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows.first.get_by_role("link", name="Kiểm tra").click()
    expect(page.get_by_text("ĐÃ XÁC MINH")).to_be_visible()
    _shot(page, "audit-proof")

    # English on request, kept for the session.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_text("VERIFIED")).to_be_visible()


def test_the_pages_fit_a_phone_and_refuse_what_a_role_may_not_do(
        site: tuple[Services, Org, str], page: Any) -> None:
    services, org, base = site
    off_thread(issued_document, services, org)
    page.set_viewport_size(PHONE)
    page.set_extra_http_headers({"Accept-Language": "vi"})
    _log_in(page, base, "clerk")
    expect(page.get_by_role("heading", name="Văn bản đi")).to_be_visible()
    # Nothing wider than the screen but the tables, which scroll in their own box.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    _shot(page, "home-clerk-phone")
    page.get_by_role("link", name="Tổng quan").click()
    expect(page.get_by_role("figure", name="Văn bản đi theo trạng thái")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    _shot(page, "dashboard-phone")
    page.get_by_role("link", name="Sổ văn bản").click()
    expect(page.get_by_role("heading", name="Sổ văn bản đi")).to_be_visible()
    _shot(page, "register-phone")
    assert page.get_by_role("link", name="Nhật ký kiểm tra").count() == 0
    refused = page.goto(f"{base}/audit")
    assert refused is not None and refused.status == 403
    _shot(page, "refused-phone")


@dataclass(frozen=True)
class Province:
    services: Services
    org: Org
    base: str
    pki: Any  # the PKI the seal and the leader's token certificate come from
    agent_port: int


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Province]:
    """As `site`, with the province's seal held by the server (DOCFLOW_SEAL_KEYS), and the
    pages told where the leader's token agent listens (DOCFLOW_TOKEN_AGENT_URL)."""
    from datetime import UTC, datetime

    from docflow.signing.appearance import demo_seal_png
    from docflow.signing.pki import init_pki

    keys = tmp_path / "pki"
    files = init_pki(keys, passphrase=b"browser-seal", now=datetime.now(UTC))
    (keys / "passphrase").write_text("browser-seal\n")
    (keys / "seal.png").write_bytes(demo_seal_png())
    (keys / "seals.toml").write_text(
        f'[units.P01]\npkcs12 = "{files.seal_p12.name}"\npassphrase_file = "passphrase"\n'
        'image = "seal.png"\n')
    port = free_port()
    for services, org, base in _served(
            tmp_path / "var", DOCFLOW_SEAL_KEYS=str(keys / "seals.toml"),
            DOCFLOW_TOKEN_AGENT_URL=f"http://127.0.0.1:{port}"):
        yield Province(services, org, base, files, port)


@contextmanager
def token_agent(province: Province, tokens: tuple[str, ...], key_label: str
                ) -> Iterator[None]:
    """The leader's USB token (a SoftHSM2 token, its key made on it) lent to the site's pages
    by the token agent on the leader's computer, as `docflow token-agent` does."""
    from docflow.signing.agent import TokenAgent, serve
    from docflow.signing.pki import load_authority
    from docflow.signing.signers import open_pkcs11_signer
    from tests.softhsm import make_token

    token = make_token(tokens, load_authority(province.pki, b"browser-seal"),
                       key_label=key_label, common_name="Leader")
    with open_pkcs11_signer(token.module, token.label, token.pin, token.key_label) as signer:
        server = serve(TokenAgent(signer, log=lambda _: None), [province.base],
                       port=province.agent_port)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def test_a_directive_from_draft_to_done_across_a_province_and_two_communes(
        province: Province, browser: Any, tmp_path: Path,
        softhsm_tokens: tuple[str, ...]) -> None:
    """Six people, each in their own browser, in Vietnamese: the officer drafts and submits,
    the leader reviews, approves and signs in the page with the USB token on their computer,
    the clerk numbers, seals and sends to two communes; each commune registers; one leader
    assigns, the lead reports progress and completes; the other commune completes."""
    from tests.pdfs import good_pdf

    services, base = province.services, province.base
    pdf = tmp_path / "chi-thi.pdf"
    pdf.write_bytes(good_pdf())

    def person(username: str) -> Any:
        context = browser.new_context(locale="vi-VN")
        page = context.new_page()
        _log_in(page, base, username)
        return page

    officer = person("officer")
    officer.get_by_role("link", name="Soạn văn bản").click()
    officer.get_by_label("Loại văn bản").select_option("CT")
    officer.get_by_label("Trích yếu").fill("Về việc triển khai phong trào phụ nữ")
    officer.get_by_label("Tệp PDF chính").set_input_files(str(pdf))
    _press(officer, "Tạo dự thảo")
    document_url = officer.url
    doc_id = document_url.rsplit("/", 1)[1]
    _press(officer, "Trình duyệt")
    _shot(officer, "journey-1-submitted")

    leader = person("leader")
    leader.goto(document_url)
    _press(leader, "Thông qua")
    _press(leader, "Phê duyệt")
    with token_agent(province, softhsm_tokens, "journey-leader"):
        leader.get_by_label("Chức vụ ghi trên chữ ký").fill("CHỦ TỊCH")
        with leader.expect_navigation(wait_until="domcontentloaded"):
            leader.get_by_role("button", name="Ký bằng thiết bị ký số của tôi").click()
        assert "/batches/" in leader.url
        assert off_thread(services.queue.join, 30)  # type: ignore[attr-defined]
        leader.reload()
        expect(leader.get_by_text("Đã ký: 1")).to_be_visible()
        _shot(leader, "journey-1b-signed-with-the-token")
    assert services.documents.view(province.org.leader, doc_id, ORIGIN).status == "signed"

    clerk = person("clerk")
    clerk.goto(document_url)
    _press(clerk, "Cấp số")
    _press(clerk, "Ký số của cơ quan (đóng dấu)")
    expect(clerk.get_by_text("Đã ban hành").first).to_be_visible()
    clerk.get_by_label("Gửi đến đơn vị (mã, cách nhau bởi dấu phẩy)").fill("P01.X1, P01.X2")
    _press(clerk, "Phát hành")
    _shot(clerk, "journey-2-dispatched")
    assert off_thread(services.queue.join, 10)  # type: ignore[attr-defined]

    x1clerk = person("x1clerk")
    x1clerk.goto(document_url)
    _press(x1clerk, "Vào sổ")
    x1leader = person("x1leader")
    x1leader.goto(document_url)
    x1leader.get_by_label("Ý kiến chỉ đạo").fill("Giao chị Lan chủ trì")
    x1leader.get_by_label("Chủ trì (tên đăng nhập)").fill("x1clerk")
    x1leader.get_by_label("Hạn xử lý").fill("2099-12-31")
    _press(x1leader, "Giao xử lý")
    x1clerk.reload()
    x1clerk.get_by_label("Tiến độ").fill("Đã họp triển khai toàn xã")
    _press(x1clerk, "Cập nhật tiến độ")
    _press(x1clerk, "Hoàn thành")
    _shot(x1clerk, "journey-3-commune-done")

    x2clerk = person("x2clerk")
    x2clerk.goto(document_url)
    _press(x2clerk, "Vào sổ")
    _press(x2clerk, "Hoàn thành")

    officer.reload()
    expect(officer.get_by_text("Đã xong: 2")).to_be_visible()
    officer.get_by_text("Xem tệp ngay trên trang").click()
    expect(officer.locator("iframe.pdf")).to_be_visible()
    _shot(officer, "journey-4-all-done")
    for page in (officer, leader, clerk, x1clerk, x1leader, x2clerk):
        page.context.close()


def _approved(services: Services, org: Org, abstract: str) -> str:
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from tests.conftest import approve
    from tests.pdfs import good_pdf

    doc = services.documents.draft(org.officer, DraftSpec("CV", abstract), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    approve(services, org.officer, org.leader, doc.id)
    return doc.id


def test_a_leader_signs_a_selection_from_the_queue_with_one_pin(
        province: Province, page: Any, softhsm_tokens: tuple[str, ...]) -> None:
    """From "Awaiting the leader", two approved documents picked and signed in one go with the
    token, their progress shown; with no token agent running, the page says what to do."""
    services, base = province.services, province.base
    chosen = [off_thread(_approved, services, province.org, f"Công văn số {n}")
              for n in range(2)]
    left = off_thread(_approved, services, province.org, "Công văn để lại")
    _log_in(page, base, "leader")
    page.get_by_role("link", name="Chờ lãnh đạo").click()
    for doc_id in chosen:
        page.locator(f"#choose-{doc_id}").check()
    _shot(page, "approvals")
    with token_agent(province, softhsm_tokens, "batch-leader"):
        # KT. (a deputy for the head) rests on a delegation record this leader has not got:
        # both documents are refused, each with the reason, and nothing is signed.
        page.get_by_label("Chức vụ ghi trên chữ ký").fill("PHÓ CHỦ TỊCH")
        page.get_by_label("Thẩm quyền ký").select_option("KT.")
        with page.expect_navigation(wait_until="domcontentloaded"):
            page.get_by_role("button", name="Ký các văn bản đã chọn").click()
        expect(page.get_by_text("Lỗi: 2")).to_be_visible()
        assert page.get_by_role("cell", name="KT.").count() == 2
        # In their own right, then: the position is remembered on this computer.
        page.goto(f"{base}/approvals")
        for doc_id in chosen:
            page.locator(f"#choose-{doc_id}").check()
        assert page.get_by_label("Chức vụ ghi trên chữ ký").input_value() == "PHÓ CHỦ TỊCH"
        with page.expect_navigation(wait_until="domcontentloaded"):
            page.get_by_role("button", name="Ký các văn bản đã chọn").click()
        assert off_thread(services.queue.join, 30)  # type: ignore[attr-defined]
        page.reload()
    expect(page.get_by_text("Đã ký: 2")).to_be_visible()
    assert page.get_by_role("progressbar").get_attribute("value") == "2"
    _shot(page, "batch-progress")
    assert {services.documents.view(province.org.leader, d, ORIGIN).status
            for d in chosen} == {"signed"}

    page.goto(f"{base}/documents/{left}")  # no agent now
    page.get_by_label("Chức vụ ghi trên chữ ký").fill("CHỦ TỊCH")
    page.get_by_role("button", name="Ký bằng thiết bị ký số của tôi").click()
    page.get_by_text("Phần mềm ký số không phản hồi").wait_for(timeout=10_000)
    assert services.documents.view(province.org.leader, left, ORIGIN).status == "approved"


CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


def test_the_setup_pages_on_a_phone_and_another_units_document_refused(
        site: tuple[Services, Org, str], browser: Any) -> None:
    """Administration, the profile, delegations and report requests fit a phone; a person
    of another province gets "not found" for a document that is not theirs."""
    from docflow.domain.org import Role

    services, org, base = site
    doc_id = off_thread(issued_document, services, org)
    off_thread(lambda: services.identity.add_user("admin", "Quản trị", PASSWORD,
                                                  [("P01", Role.ADMIN)], ORIGIN))
    for username, paths in (("admin", ["/admin"]),
                            ("leader", ["/profile", "/delegations", "/reports"])):
        context = browser.new_context(locale="vi-VN", viewport=PHONE)
        page = context.new_page()
        _log_in(page, base, username)
        for path in paths:
            page.goto(f"{base}{path}")
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") \
                <= 0, path
            assert page.evaluate(CONTRAST) == [], path
            _shot(page, f"{path.strip('/')}-phone")
        context.close()
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    _log_in(page, base, "p2auditor")  # audits province P02, not P01
    refused = page.goto(f"{base}/documents/{doc_id}")
    assert refused is not None and refused.status == 404
    _shot(page, "refused-other-unit")
    context.close()



def test_text_is_readable_and_the_keyboard_alone_logs_in(
        site: tuple[Services, Org, str], page: Any) -> None:
    """WCAG AA contrast (4.5:1) for the text of the main pages; logging in and reaching the
    trail with the keyboard only."""
    services, org, base = site
    doc_id = off_thread(issued_document, services, org)
    page.goto(f"{base}/login")
    assert page.evaluate(CONTRAST) == []
    # The username field has the focus already (autofocus, applied a moment after load);
    # type, Tab, type, Enter.
    page.wait_for_function("document.activeElement && document.activeElement.id === "
                           "'username'", timeout=5_000)
    page.keyboard.type("auditor")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the top of a page, the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")  # the first menu entry
        page.keyboard.press("Enter")
    for path in ("/", "/dashboard", f"/documents/{doc_id}", f"/audit?document={doc_id}",
                 "/registers/outgoing"):
        page.goto(f"{base}{path}")
        assert page.evaluate(CONTRAST) == [], path
