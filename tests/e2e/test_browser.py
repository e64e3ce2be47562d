"""The pages in a real browser: Debian's Chromium driven by Playwright (headless, no browser
download, nothing reached but loopback), as people use them, in Vietnamese, on a desk screen and
a phone's. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from docflow.bootstrap import Services, bootstrap
from docflow.web import create_app
from tests.conftest import PASSWORD, Org, embedded_settings, issued_document, seed_org
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
    page.get_by_role("button", name="Tìm kiếm").click()
    rows = page.locator("tbody tr")
    assert rows.count() >= 8
    assert page.get_by_role("cell", name="Ký số").count() == 2  # leader, seal
    _shot(page, "audit-search")
    with page.expect_download() as download:
        page.get_by_role("link", name="Xuất CSV").click()
    assert "document.create" in Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows.first.get_by_role("link", name="Kiểm tra").click()
    assert page.get_by_text("ĐÃ XÁC MINH").is_visible()
    _shot(page, "audit-proof")

    # English on request, kept for the session.
    page.get_by_role("button", name="English").click()
    assert page.get_by_text("VERIFIED").is_visible()


def test_the_pages_fit_a_phone_and_refuse_what_a_role_may_not_do(
        site: tuple[Services, Org, str], page: Any) -> None:
    services, org, base = site
    off_thread(issued_document, services, org)
    page.set_viewport_size(PHONE)
    page.set_extra_http_headers({"Accept-Language": "vi"})
    _log_in(page, base, "clerk")
    assert page.get_by_role("heading", name="Văn bản đi").is_visible()
    # Nothing wider than the screen but the tables, which scroll in their own box.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    _shot(page, "home-clerk-phone")
    page.get_by_role("link", name="Tổng quan").click()
    assert page.get_by_role("figure", name="Văn bản đi theo trạng thái").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    _shot(page, "dashboard-phone")
    page.get_by_role("link", name="Sổ văn bản").click()
    _shot(page, "register-phone")
    assert page.get_by_role("link", name="Nhật ký kiểm tra").count() == 0
    refused = page.goto(f"{base}/audit")
    assert refused is not None and refused.status == 403
    _shot(page, "refused-phone")


@pytest.fixture
def province(tmp_path: Path) -> Iterator[tuple[Services, Org, str]]:
    """As `site`, with the province's seal held by the server (DOCFLOW_SEAL_KEYS)."""
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
    yield from _served(tmp_path / "var", DOCFLOW_SEAL_KEYS=str(keys / "seals.toml"))


def test_a_directive_from_draft_to_done_across_a_province_and_two_communes(
        province: tuple[Services, Org, str], browser: Any, tmp_path: Path) -> None:
    """Six people, each in their own browser, in Vietnamese: the officer drafts and submits,
    the leader reviews and approves (and signs with their own key, outside the page), the
    clerk numbers, seals and sends to two communes; each commune registers; one leader
    assigns, the lead reports progress and completes; the other commune completes."""
    from docflow.domain.signatures import SignatureKind
    from tests.conftest import ORIGIN
    from tests.keys import test_keys
    from tests.pdfs import good_pdf

    services, org, base = province
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
    assert leader.get_by_text("Lãnh đạo ký bằng khóa của mình").is_visible()
    off_thread(lambda: services.signatures.sign(
        org.leader, doc_id, SignatureKind.LEADER, test_keys().leader, ORIGIN,
        position="CHỦ TỊCH"))

    clerk = person("clerk")
    clerk.goto(document_url)
    _press(clerk, "Cấp số")
    _press(clerk, "Ký số của cơ quan (đóng dấu)")
    assert clerk.get_by_text("Đã ban hành").first.is_visible()
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
    assert officer.get_by_text("Đã xong: 2").is_visible()
    officer.get_by_text("Xem tệp ngay trên trang").click()
    assert officer.locator("iframe.pdf").is_visible()
    _shot(officer, "journey-4-all-done")
    for page in (officer, leader, clerk, x1clerk, x1leader, x2clerk):
        page.context.close()


CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


def test_text_is_readable_and_the_keyboard_alone_logs_in(
        site: tuple[Services, Org, str], page: Any) -> None:
    """WCAG AA contrast (4.5:1) for the text of the main pages; logging in and reaching the
    trail with the keyboard only."""
    services, org, base = site
    doc_id = off_thread(issued_document, services, org)
    page.goto(f"{base}/login")
    assert page.evaluate(CONTRAST) == []
    # The username field has the focus already; type, Tab, type, Enter.
    assert page.evaluate("document.activeElement.id") == "username"
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
