"""The review desk in Debian's chromium (playwright), desktop size, against a real `dabiao serve`
process: the whole review of a street from the queue to the certificate, with the official's
phone (the reference client) fixing and resubmitting in between; refusals (stale page, another
county, no CSRF token, logout); the phone app for a reviewer; accessibility (axe-core) and the
pages running under their Content-Security-Policy. Set DABIAO_SCREENSHOTS=docs/screenshots to
keep the screenshots."""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path

import httpx
import msgspec
import pytest
from serverkit import Server, demo_dir, make_passing, photo_bytes, start_process  # noqa: F401  (fixtures)
from test_field_app import CHROMIUM, browser, live, shot  # noqa: F401  (fixtures)

from checklists.model import Answer
from pdfgen.common import pct
from server.services.demo import DEMO_PASSWORD
from server.settings import Settings

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "zh-CN"}
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"  # tests/vendor/vendor.lock.json
BROKEN = "TS-BZ-01"  # the item the official gets wrong, and fixes after the return
QZH = "hn-cs-kf-qzh"


def api(url: str, data: Path) -> Server:
    return Server(client=httpx.Client(base_url=url, timeout=60), settings=Settings(data_dir=data), _tokens={})


def submitted_with_one_gap(srv: Server) -> tuple[str, dict]:
    """青竹湖街道's assessment, complete but for one mandatory item answered wrong, submitted.
    Returns its id and the right answer to that item."""
    aid = srv.assessment_id(QZH)
    make_passing(srv, "kf_field_qzh", aid)
    good = srv.as_user("kf_field_qzh", "GET", f"/assessments/{aid}").json()["answers"][BROKEN]
    assert srv.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/{BROKEN}",
                       json={**good, "value": False}).status_code == 200
    r = srv.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit")
    assert r.status_code == 200, r.text
    return aid, good


def log_in(page, url: str, username: str = "kf_reviewer") -> None:
    page.goto(f"{url}/")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_the_whole_review_in_the_browser(live, browser, tmp_path: Path):
    from sync.client import Backoff, Device
    from sync.transport import HttpTransport

    url, data = live
    srv = api(url, data)
    aid, good = submitted_with_one_gap(srv)
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    errors = csp_errors(page)
    page.on("dialog", lambda d: d.accept())

    # The queue: the street waits, with its standard's title.
    log_in(page, url)
    assert page.url.endswith("/desk")
    row = page.locator("#queue tbody tr", has_text="青竹湖街道")
    assert row.count() == 1 and "首次提交" in row.inner_text()
    assert "长沙市开福区街道应急能力建设" in row.inner_text()
    shot(page, "desk-queue")
    row.get_by_role("link", name="青竹湖街道").click()
    page.wait_for_selector("#title")
    assert "青竹湖街道" in page.inner_text("#title")
    shot(page, "desk-assessment")

    # Evidence: a photo opens full size; a document opens inline with its own name.
    thumb = page.locator("a.thumb").first
    thumb.click()
    viewer = page.locator("#viewer")
    viewer.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#viewer img').naturalWidth > 0")
    shot(page, "desk-photo")
    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")
    doc = page.locator("a.thumb[data-kind=document]").first.get_attribute("href")
    opened = page.request.get(f"{url}{doc}")
    assert opened.status == 200 and opened.headers["content-type"].startswith("image/")
    assert opened.headers["content-disposition"].startswith("inline;")

    # A comment on the wrong item, then the return with a deadline.
    item = page.locator(f"#item-{BROKEN}")
    assert "不符合" in item.inner_text()
    item.locator("details.tools summary").click()
    item.locator("textarea[name=body]").fill("成立文件未上传盖章扫描件")
    item.get_by_role("button", name="发表意见").click()
    page.wait_for_selector(".notice")
    assert "成立文件未上传盖章扫描件" in page.inner_text(f"#item-{BROKEN}")
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    page.fill("#return-comment", "请按逐项意见整改后重新提交")
    page.fill("#return-due", due)
    shot(page, "desk-return")
    page.click("#return")
    page.wait_for_selector(".notice")
    assert page.inner_text("#status") == "已退回整改"

    # The official's phone syncs, sees the return, fixes the item and resubmits.
    transport = HttpTransport(httpx.Client(base_url=url, timeout=60))
    device = Device(tmp_path / "phone.db", transport, device_id="phone-qzh", backoff=Backoff(attempts=5, rng=random.Random(0)))
    device.login("kf_field_qzh", DEMO_PASSWORD)
    device.sync()
    assert device.status(aid) == "returned"
    assert any("整改时限" in c.body for c in device.comments(aid))
    device.set_answer(aid, BROKEN, msgspec.convert(good, Answer))
    device.submit(aid)
    device.sync()
    assert device.status(aid) == "resubmitted"

    # The reviewer sees exactly what changed, spot-checks and accepts.
    page.reload()
    changes = page.locator("#changes tbody tr")
    assert changes.count() == 1, page.inner_text("#changes")
    question = page.locator(f"#q-{BROKEN}").inner_text().replace("必备", "").strip()
    assert question in changes.first.inner_text()
    assert page.locator(".item.changed").count() == 1
    tools = page.locator(f"#item-{BROKEN} details.tools")
    tools.locator("summary").click()
    tools.locator("input[value=confirmed]").check()
    tools.locator("input[name=note]").fill("现场查看原件，与上传一致")
    tools.locator("input[name=photos]").set_input_files(files=[{"name": "现场.png", "mimeType": "image/png",
                                                                "buffer": photo_bytes("spot", 96)}])
    tools.get_by_role("button", name="记录抽查").click()
    page.wait_for_selector(".notice")
    assert "现场核实无误" in page.inner_text(f"#item-{BROKEN}")
    assert page.locator(f"#item-{BROKEN} a.thumb").count() >= 1
    page.click("#accept")
    page.wait_for_selector("#certificate-link")
    assert page.inner_text("#status") == "已验收"
    shot(page, "desk-accept")
    pdf = page.request.get(f"{url}{page.get_attribute('#certificate-link', 'href')}")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")

    # The audit trail reads as a timeline.
    page.get_by_role("link", name="操作记录").click()
    timeline = page.inner_text("#timeline")
    for words in ("退回整改", "验收通过", "签发证书", "现场抽查", "kf_reviewer", "kf_field_qzh"):
        assert words in timeline
    shot(page, "desk-audit")

    # Documents: the certificate's verify page, and the 通报 whose numbers match the rates API.
    page.get_by_role("link", name="通报与证书").click()
    verify = page.locator("#certificates a[href^='/verify/']").first
    with context.expect_page() as opened_page:
        verify.click()
    check = opened_page.value
    check.wait_for_load_state()
    assert check.title() == "证书有效" and "青竹湖街道" in check.inner_text("body")
    check.close()
    as_of = dt.date.today().isoformat()
    league = page.request.get(f"{url}/desk/documents/league.pdf?as_of={as_of}")
    assert league.status == 200 and league.body().startswith(b"%PDF")
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(league.body())).pages).replace("\n", "")
    rates = srv.as_user("kf_reviewer", "GET", f"/reports/rates/hn-cs-kf?as_of={as_of}").json()["total"]["townships"]
    expected = f"{rates['denominator']}个街道，已达标{rates['numerator']}个，达标率{pct(rates['rate'])}"
    assert expected in text, text[:400]

    # Logout ends the session.
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login")
    page.goto(f"{url}/desk")
    assert "/login" in page.url
    assert errors == []
    context.close()


def test_a_stale_page_is_refused_with_a_message(live, browser):
    url, data = live
    srv = api(url, data)
    aid, good = submitted_with_one_gap(srv)
    assert srv.as_user("kf_field_qzh", "GET", f"/assessments/{aid}").status_code == 200
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    log_in(page, url)
    page.goto(f"{url}/desk/assessments/{aid}")
    # Meanwhile a colleague returns it, the official fixes it and resubmits: the page is stale.
    assert srv.as_user("kf_reviewer", "POST", f"/assessments/{aid}/return", json={"comment": "退回"}).status_code == 200
    assert srv.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/{BROKEN}", json=good).status_code == 200
    assert srv.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    page.fill("#reject-form textarea[name=comment]", "材料不实")
    page.click("#reject")
    page.wait_for_selector("#problem")
    assert "刷新" in page.inner_text("#problem")
    assert srv.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()["status"] == "resubmitted"
    context.close()


def test_refusals_another_county_no_csrf_token_and_logout(live, browser):
    url, data = live
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    log_in(page, url)
    srv = api(url, data)
    aid = srv.assessment_id("hn-cs-kf-dfl")
    page.goto(f"{url}/desk/assessments/{aid}")
    photo = page.locator("a.thumb").first.get_attribute("href")
    # A form posted without its CSRF token is refused and changes nothing.
    r = page.request.post(f"{url}/desk/assessments/{aid}/comments", form={"body": "伪造的意见"})
    assert r.status == 403
    page.reload()
    assert "伪造的意见" not in page.content()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login")
    # 平江县's reviewer: neither the page nor its photos.
    log_in(page, url, "pj_reviewer")
    for target in (f"/desk/assessments/{aid}", photo):
        assert page.request.get(f"{url}{target}").status in (403, 404)
    assert "/desk" in page.url
    context.close()


def test_a_reviewer_in_the_phone_app_gets_no_edit_controls(live, browser):
    url, _ = live
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    errors = csp_errors(page)
    page.goto(f"{url}/app/")
    page.fill("#username", "kf_reviewer")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login")
    page.wait_for_selector("#read-only", timeout=60_000)
    assert "区县审核台" in page.inner_text("#read-only")
    page.locator("[data-assessment] a").first.click()
    page.wait_for_selector("#assessment-head")
    assert page.locator("#submit").count() == 0
    assert page.locator("main input:not([disabled]), main textarea:not([disabled])").count() == 0
    assert errors == []  # the app runs under its CSP
    context.close()


def test_the_queue_and_the_assessment_page_have_no_serious_accessibility_violation(live, browser):
    url, data = live
    srv = api(url, data)
    aid = srv.assessment_id("hn-cs-kf-dfl")
    context = browser.new_context(**DESKTOP, bypass_csp=True)  # axe is injected as a script of the test's
    page = context.new_page()
    log_in(page, url)
    for target in ("/desk", f"/desk/assessments/{aid}", f"/desk/assessments/{aid}/audit", "/desk/documents", "/login"):
        page.goto(f"{url}{target}")
        assert serious_violations(page) == [], target
    context.close()


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page (in a context with bypass_csp:
    axe is the test's script, injected)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_the_desk_is_usable_by_keyboard(live, browser):
    url, _ = live
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{url}/login")
    assert page.evaluate("() => document.activeElement.name") == "username"  # focused on arrival
    page.keyboard.type("kf_reviewer")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk")
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("() => document.activeElement.className") == "skip"
    link = page.locator("#queue tbody a").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#title")
    page.locator("a.thumb").first.focus()
    page.keyboard.press("Enter")
    page.locator("#viewer").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("#viewer").wait_for(state="hidden")
    context.close()
