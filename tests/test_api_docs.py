"""The API docs page (/schema) in Debian's headless Chromium, against a real server process, under
the strict Content-Security-Policy every Dabiao page gets: Swagger UI renders the operations from
vendored files with no CSP violation and no request to another host.

Set DABIAO_SCREENSHOTS=<dir> to keep a screenshot of the page (docs/screenshots/api-docs.png)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import start_process

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(scripts/system-deps.sh installs it)")

# The policy of the security-headers middleware, sent here by the test itself so that the page is
# checked under it whether or not the server sends it.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

# Collects the page's CSP violations; an init script runs before the page's own and is not
# subject to its CSP.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_process(tmp_path_factory.mktemp("docs") / "data")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def open_docs(browser, url: str, path: str):
    """The docs page with the CSP added to its HTML response; returns (page, requests, console)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    console: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    page.route(lambda u: u.startswith(f"{url}/schema") and not u.endswith((".json", ".js", ".css")), with_csp)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{url}{path}")
    page.wait_for_selector(".opblock-summary-operation-id", timeout=60_000)
    return page, requests, console


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_the_docs_render_every_operation_under_the_strict_csp_from_this_host_only(browser, live: str, path: str):
    page, requests, console = open_docs(browser, live, path)
    ids = page.locator(".opblock-summary-operation-id").all_inner_texts()
    assert len(ids) >= 40 and {"login", "getRates", "getLeaguePdf", "syncPush"} <= set(ids)
    assert page.locator(".opblock-tag-section").count() >= 9  # one section per tag
    assert page.evaluate("window.__violations") == []
    assert [line for line in console if "Content Security Policy" in line or "pageerror" in line] == []
    assert requests and all(u.startswith(live) for u in requests), [u for u in requests if not u.startswith(live)]
    assert f"{live}/schema/openapi.json" in requests
    # The policy was in force: an inline style the page did not have is refused.
    page.evaluate("document.head.appendChild(document.createElement('style')).textContent = 'body{color:red}'")
    page.wait_for_function("window.__violations.length > 0")
    assert set(page.evaluate("window.__violations")) == {"style-src-elem inline"}
    folder = os.environ.get("DABIAO_SCREENSHOTS")
    if folder and path == "/schema":
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / "api-docs.png"))
    page.context.close()


def test_an_operation_opens_with_its_problem_responses_and_the_pdf_as_binary(browser, live: str):
    page, _, _ = open_docs(browser, live, "/schema")
    page.click("#operations-reports-getLeaguePdf .opblock-summary-control")
    block = page.locator("#operations-reports-getLeaguePdf")
    block.locator(".responses-table").first.wait_for(timeout=30_000)
    text = block.inner_text()
    assert "application/pdf" in text
    for status in ("200", "401", "403", "404", "422", "503"):
        assert block.locator(f"tr.response[data-code='{status}']").count() == 1, status
    assert page.evaluate("window.__violations") == []
    page.context.close()
