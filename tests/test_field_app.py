"""The field app (PWA at /app/) in headless Chromium at phone size, against a real server process:
log in, go offline, fill a 开福区 street checklist with answers, a dated drill record and a
photo, close and reopen the page offline, come back online, sync; the server holds exactly what
was entered. A second test closes the page in the middle of an upload and resumes it.

Set DABIAO_SCREENSHOTS=<dir> to keep the phone-size screenshots of the main screens."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from serverkit import demo_dir, start_process  # noqa: F401  (fixtures)

from server.services.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(scripts/system-deps.sh installs it)")
QZH = "hn-cs-kf-qzh"
# bypass_csp: playwright's own wait_for_function evaluates its predicate with eval, which the app's
# CSP forbids; tests/test_desk_browser.py checks that the app itself runs under the CSP.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN", "bypass_csp": True}


@pytest.fixture
def live(demo_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    proc, url = start_process(data)
    try:
        yield url, data
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def shot(page, name: str) -> None:
    folder = os.environ.get("DABIAO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def camera_photo(path: Path) -> bytes:
    """A 4000x3000 'camera' JPEG: the app must shrink it before keeping it."""
    image = Image.radial_gradient("L").resize((4000, 3000)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def log_in(page, url: str) -> None:
    page.goto(f"{url}/app/")
    page.fill("#username", "kf_field_qzh")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login")
    page.wait_for_selector("[data-assessment]", timeout=60_000)
    page.wait_for_function("document.querySelector('#pending') && document.querySelector('#sync') && "
                           "!document.querySelector('#sync').disabled", timeout=60_000)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the shell is cached: works offline now


def open_assessment(page, name: str = "青竹湖街道") -> None:
    page.click(f"[data-assessment] h3:has-text('{name}')")
    page.wait_for_selector("#assessment-head")


def pending(page) -> int:
    return int(page.get_attribute("#pending", "data-count"))


def wait_synced(page, timeout: float = 60) -> None:
    page.wait_for_function("document.querySelector('#pending') && document.querySelector('#pending').dataset.count === '0'"
                           " && !document.querySelector('#pending-files') && !document.querySelector('#sync').disabled",
                           timeout=timeout * 1000)


def come_online_and_sync(context, page) -> None:
    """Back online: the app syncs by itself on the online event. Press 立即同步 only if it has not
    (pressing it as well could start a second sync whose message replaces the first one's)."""
    context.set_offline(False)
    page.wait_for_selector("#net.online")
    try:
        wait_synced(page, timeout=10)
    except PlaywrightTimeout:
        page.click("#sync")
        wait_synced(page)


def server_view(url: str, aid: str, reviewer: str = "kf_reviewer") -> dict:
    with httpx.Client(base_url=url) as c:
        token = c.post("/auth/login", json={"username": reviewer, "password": DEMO_PASSWORD}).json()["access_token"]
        return c.get(f"/assessments/{aid}", headers={"Authorization": f"Bearer {token}"}).json()


def blob(url: str, sha: str) -> bytes:
    with httpx.Client(base_url=url) as c:
        token = c.post("/auth/login", json={"username": "kf_reviewer", "password": DEMO_PASSWORD}).json()["access_token"]
        return c.get(f"/attachments/{sha}", headers={"Authorization": f"Bearer {token}"}).content


def test_fill_offline_close_reopen_and_sync(live, browser, tmp_path: Path):
    url, data = live
    context = browser.new_context(**PHONE)
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    log_in(page, url)
    shot(page, "1-home")
    aid = page.get_attribute("[data-assessment]:has(h3:has-text('青竹湖街道'))", "data-assessment")
    before = server_view(url, aid)

    context.set_offline(True)
    page.wait_for_selector("#net.offline")
    open_assessment(page)
    page.check("#item-TS-BZ-01 input[type=radio][value=true]")
    page.wait_for_selector("#item-TS-BZ-01 input[type=radio][value=true]:checked")
    page.check("#item-TS-JZ-01 input[type=radio][value=false]")
    page.wait_for_selector("#item-TS-JZ-01 input[type=radio][value=false]:checked")
    camera_photo(tmp_path / "IMG_0001.jpg")
    page.set_input_files("#item-TS-BZ-01 input.photo", str(tmp_path / "IMG_0001.jpg"))
    page.wait_for_selector("#item-TS-BZ-01 img.thumb")
    page.click("[data-kind=drill] summary")
    page.fill("[data-kind=drill] input[name=date]", "2024-06-12")
    page.fill("[data-kind=drill] input[name=title]", "青竹湖街道防汛应急演练")
    page.fill("[data-kind=drill] input[name=f-plan]", "防汛应急预案")
    page.fill("[data-kind=drill] input[name=f-type]", "实战演练")
    page.set_input_files("[data-kind=drill] input[name=photo]", str(tmp_path / "IMG_0001.jpg"))
    page.click("[data-kind=drill] button[type=submit]")
    page.wait_for_selector("[data-kind=drill] li:has-text('青竹湖街道防汛应急演练')")
    assert pending(page) == 4  # two answers, the photo on TS-BZ-01, the drill record
    assert page.is_visible("#pending-files")
    page.evaluate("document.getElementById('item-TS-BZ-01').scrollIntoView()")
    shot(page, "2-checklist-offline")
    page.evaluate("document.getElementById('records').scrollIntoView()")
    shot(page, "3-records-offline")

    # The official closes the app, still without signal, and opens it again.
    page.close()
    page = context.new_page()
    page.goto(f"{url}/app/")  # served by the service worker from its cache
    page.wait_for_selector("[data-assessment]")
    assert pending(page) == 4
    open_assessment(page)
    assert page.is_checked("#item-TS-BZ-01 input[type=radio][value=true]")
    assert page.is_checked("#item-TS-JZ-01 input[type=radio][value=false]")
    assert page.locator("#item-TS-BZ-01 img.thumb").count() == 1

    come_online_and_sync(context, page)  # signal again
    shot(page, "4-synced")
    assert "已同步" in page.inner_text("#sync-message")

    after = server_view(url, aid)
    assert after["answers"]["TS-BZ-01"]["value"] is True
    assert after["answers"]["TS-JZ-01"]["value"] is False
    [photo] = [e for e in after["answers"]["TS-BZ-01"]["evidence"] if e["kind"] == "photo"]
    assert photo["label"] == "IMG_0001.jpg"
    stored = blob(url, photo["sha256"])
    assert hashlib.sha256(stored).hexdigest() == photo["sha256"]
    assert max(Image.open(io.BytesIO(stored)).size) == 1600  # shrunk on the phone before upload
    [drill] = [r for r in after["records"] if r["title"] == "青竹湖街道防汛应急演练"]
    assert drill == {**drill, "kind": "drill", "date": "2024-06-12", "fields": {"plan": "防汛应急预案", "type": "实战演练"}}
    assert [a["sha256"] for a in drill["attachments"]] == [photo["sha256"]]  # the same photo, stored once
    # Exactly what was entered: nothing else changed, nothing doubled.
    changed = {k for k in after["answers"] if after["answers"][k] != before["answers"].get(k)}
    assert changed == {"TS-BZ-01", "TS-JZ-01"}
    assert len(after["records"]) == len(before["records"]) + 1
    # The reviewer comments on an item; after the next sync the official sees it on that item.
    with httpx.Client(base_url=url) as c:
        token = c.post("/auth/login", json={"username": "kf_reviewer", "password": DEMO_PASSWORD}).json()["access_token"]
        r = c.post(f"/assessments/{aid}/comments", json={"item_id": "TS-JZ-01", "body": "风险防控机制文件请加盖公章"},
                   headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201, r.text
    page.click("#sync")
    page.wait_for_selector("#item-TS-JZ-01 .comment:has-text('风险防控机制文件请加盖公章')")
    page.evaluate("document.getElementById('item-TS-JZ-01').scrollIntoView()")
    shot(page, "5-review-comment")
    db = sqlite3.connect(data / "dabiao.db")
    rows = db.execute("SELECT op, status FROM sync_mutations WHERE device LIKE 'web-%'").fetchall()
    blobs = db.execute("SELECT COUNT(*) FROM attachments WHERE sha256 = ?", (photo["sha256"],)).fetchone()[0]
    db.close()
    assert sorted(rows) == [("put_record", "applied")] + [("set_answer", "applied")] * 3
    assert blobs == 1
    foreign = [u for u in requested if not u.startswith((url, "blob:", "data:"))]
    assert requested and foreign == []  # no CDN: everything comes from Dabiao
    context.close()


def test_refused_edits_are_shown_with_the_reason_and_can_be_sent_again(live, browser, tmp_path: Path):
    url, data = live
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, url)
    aid = page.get_attribute("[data-assessment]:has(h3:has-text('青竹湖街道'))", "data-assessment")
    context.set_offline(True)
    open_assessment(page)
    page.check("#item-TS-BZ-03 input[type=radio][value=true]")
    page.wait_for_selector("#item-TS-BZ-03 input[type=radio][value=true]:checked")
    # Meanwhile at the office the checklist was submitted for review.
    db = sqlite3.connect(data / "dabiao.db")
    db.execute("UPDATE assessments SET status = 'submitted' WHERE id = ?", (aid,))
    db.commit()
    come_online_and_sync(context, page)
    page.wait_for_selector("#rejected-link[data-count='1']")
    assert "1 项被服务器拒绝" in page.inner_text("#sync-message")
    page.wait_for_selector("#status:has-text('待审核')")
    page.click("#rejected-link")
    card = page.wait_for_selector("[data-rejected]")
    assert "TS-BZ-03" in card.inner_text() and "待审核" in card.inner_text()
    shot(page, "6-refused-edits")
    # The reviewer returns it; the official sends the refused edit again.
    db.execute("UPDATE assessments SET status = 'returned' WHERE id = ?", (aid,))
    db.commit()
    page.click("button.retry")
    page.wait_for_selector("[data-rejected]", state="detached")
    page.click("#sync")
    wait_synced(page)
    assert page.query_selector("#rejected-link") is None
    assert server_view(url, aid)["answers"]["TS-BZ-03"]["value"] is True
    statuses = db.execute("SELECT status FROM sync_mutations WHERE device LIKE 'web-%' ORDER BY received_at").fetchall()
    db.close()
    assert [s for (s,) in statuses] == ["rejected", "applied"]  # the refused one is kept, not dropped
    context.close()


def test_closing_the_page_mid_upload_resumes_where_it_stopped(live, browser, tmp_path: Path):
    url, data = live
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, url)
    open_assessment(page)
    scan = b"%PDF-1.4\n" + hashlib.sha256(b"scan").digest() * (3_000_000 // 32)  # a 3 MB scanned document
    (tmp_path / "成立文件.pdf").write_bytes(scan)
    sha = hashlib.sha256(scan).hexdigest()

    # A slow link: the upload takes a while.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 50, "downloadThroughput": 500_000,
                                                   "uploadThroughput": 300_000})
    page.set_input_files("#item-TS-BZ-01 input.document", str(tmp_path / "成立文件.pdf"))
    page.wait_for_selector("#item-TS-BZ-01 .doc")
    page.click("#sync")
    with httpx.Client(base_url=url) as c:
        token = c.post("/auth/login", json={"username": "kf_field_qzh", "password": DEMO_PASSWORD}).json()["access_token"]
        received = 0
        deadline = time.time() + 60
        while received < 512 * 1024 and time.time() < deadline:
            received = c.get(f"/sync/uploads/{sha}", headers={"Authorization": f"Bearer {token}"}).json()["received"]
            time.sleep(0.1)
    assert 0 < received < len(scan), "the upload should be under way"
    page.close()  # the official closes the app mid-upload

    page = context.new_page()
    offsets: list[int] = []
    page.on("request", lambda r: offsets.append(int(r.url.split("offset=")[1].split("&")[0]))
            if "/sync/uploads/" in r.url and r.method == "PUT" else None)
    page.goto(f"{url}/app/")  # online: it syncs by itself
    page.wait_for_selector("[data-assessment]")
    wait_synced(page, timeout=120)
    assert offsets and min(offsets) >= received  # continued from what the server had, not from zero
    assert blob(url, sha) == scan
    view = server_view(url, page.get_attribute("[data-assessment]:has(h3:has-text('青竹湖街道'))", "data-assessment"))
    assert sha in [e["sha256"] for e in view["answers"]["TS-BZ-01"]["evidence"]]
    context.close()


def test_any_standard_renders_from_its_definition(live, browser):
    """No per-standard code: 平江's township 六有 and its village 四有 (with the configurable fourth
    有, 有人员队伍) render every dimension and every item that applies to the unit, scored offline."""
    from checklists.loader import shipped_catalog

    url, _ = live
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{url}/app/")
    page.fill("#username", "pj_field_01")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login")
    page.wait_for_selector("[data-assessment]", timeout=60_000)
    page.wait_for_function("!document.querySelector('#sync').disabled", timeout=60_000)
    cards = page.query_selector_all("[data-assessment]")
    assert len(cards) >= 2
    catalog = shipped_catalog()
    seen_refs = set()
    listed = [(c.get_attribute("data-assessment"), c.query_selector("h3").inner_text().split()[0]) for c in cards]
    for card_id, name in listed:
        page.goto(f"{url}/app/#/a/{card_id}")
        # a hash change re-renders in place: wait for this unit's page, not the previous one's
        page.wait_for_function("n => (document.querySelector('#assessment-head h3') || {}).textContent "
                               "=== n + ' · 2024 年度'", arg=name)
        ref = page.inner_text("#assessment-head .muted").split("（")[-1].rstrip("）")
        standard = catalog.get(ref)
        seen_refs.add(ref)
        rendered = {el.get_attribute("data-item") for el in page.query_selector_all("[data-item]")}
        applicable = {i.id for i in standard.items if not i.when}
        assert applicable <= rendered <= {i.id for i in standard.items}
        dims = [el.inner_text() for el in page.query_selector_all("h2.dim")]
        assert [d.name for d in standard.dimensions] == dims[: len(standard.dimensions)]
        assert 0 <= float(page.inner_text("#score")) <= 100  # scored offline (rules.js; golden-tested against Python)
        assert server_view(url, card_id, "pj_reviewer")["standard_ref"] == ref
    assert {"yueyang.pingjiang.village.siyou@2023", "yueyang.pingjiang.township.liuyou@2023"} <= seen_refs
    shot(page, "7-siyou-village")
    context.close()


def test_logging_out_ends_the_login_on_the_server(live, browser):
    """Issue 16: the app's 退出 only forgot the tokens on the phone; its 45-day refresh token stayed
    valid on the server for whoever had copied it. Logging out now revokes that login."""
    url, data = live
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, url)

    def open_logins() -> int:
        db = sqlite3.connect(data / "dabiao.db")
        try:
            return db.execute("SELECT COUNT(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
                              "WHERE u.username = 'kf_field_qzh' AND t.revoked_at IS NULL").fetchone()[0]
        finally:
            db.close()

    assert open_logins() == 1
    page.click("#logout")
    page.wait_for_selector("#username")
    deadline = time.time() + 10
    while open_logins() and time.time() < deadline:
        time.sleep(0.1)
    assert open_logins() == 0
    context.close()
