"""The field app's scoring rules (server/static/app/rules.js) and the Python engine
(checklists/scoring.py) give identical results on one shared set of golden cases,
tests/golden/rules.json (made by tests/golden/make_rules_golden.py).

- The Python engine must still produce every expected result, so the golden file cannot go stale
  silently when scoring.py or a shipped standard changes.
- rules.js must produce exactly the same results (same keys in the same order, statuses, Chinese
  reason strings, numbers and dates) in headless Chromium, and in Node when it is installed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import pytest

from checklists.loader import shipped_catalog
from checklists.model import AnswerSheet, Standard
from checklists.scoring import check_sheet, score

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "rules.json"
RULES_JS = REPO / "server" / "static" / "app" / "rules.js"
CHROMIUM = "/usr/bin/chromium"
CHECK_AS_OF = "2024-06-30"  # check cases are also scored: score() must raise the same problems
REGENERATE = (
    "If the change is intended, regenerate the cases with `.venv/bin/python tests/golden/make_rules_golden.py` "
    "and port it to server/static/app/rules.js (test_rules_js_matches_the_golden_cases_in_chromium checks the port)."
)

# Evaluates every case with the rules.js module `rules` and the parsed golden file `golden`;
# shared by the browser and the Node runs.
RUNNER = """
function runGolden(rules, golden) {
  const out = [];
  for (const c of golden.cases) {
    const standard = golden.standards[c.standard_ref];
    try {
      if (c.kind === "check") {
        const problems = rules.checkSheet(standard, c.sheet);
        let raised = null;  // score() refuses a sheet that does not fit with the same problems
        if (problems.length) {
          try {
            rules.score(standard, c.sheet, "%s");
          } catch (err) {
            raised = err instanceof rules.InvalidAnswers ? err.problems : { error: String((err && err.stack) || err) };
          }
        }
        out.push({ problems, raised });
      } else {
        out.push({ result: rules.score(standard, c.sheet, c.as_of, c.weights ?? null) });
      }
    } catch (err) {
      out.push({ error: String((err && err.stack) || err) });
    }
  }
  return JSON.stringify(out);
}
""" % CHECK_AS_OF


@functools.cache
def golden() -> dict:
    return json.loads(GOLDEN.read_text("utf-8"))


# ---------------------------------------------------------------------------------------------
# Comparing results: typed (true is not 1), numbers by value (JavaScript has no int/float), keys in order


def differences(expected: object, actual: object, path: str = "$") -> Iterator[str]:
    if isinstance(expected, bool) or isinstance(actual, bool):
        if type(expected) is not type(actual) or expected != actual:
            yield f"{path}: expected {expected!r}, got {actual!r}"
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if expected != actual:
            yield f"{path}: expected {expected!r}, got {actual!r}"
    elif isinstance(expected, dict) and isinstance(actual, dict):
        if list(expected) != list(actual):
            yield f"{path}: expected keys {list(expected)}, got {list(actual)}"
        for k in expected:
            if k in actual:
                yield from differences(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: expected {len(expected)} elements, got {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from differences(e, a, f"{path}[{i}]")
    elif type(expected) is not type(actual) or expected != actual:
        yield f"{path}: expected {expected!r}, got {actual!r}"


def report(failures: list[tuple[str, list[str]]], total: int, what: str) -> str:
    lines = [f"{len(failures)} of {total} golden cases differ {what}:"]
    for name, diffs in failures[:5]:
        lines.append(f"  {name}")
        lines += [f"    {d}" for d in diffs[:6]]
        if len(diffs) > 6:
            lines.append(f"    ... {len(diffs) - 6} more")
    if len(failures) > 5:
        lines.append(f"  ... and {len(failures) - 5} more cases")
    return "\n".join(lines)


def expected_of(case: dict) -> object:
    if case["kind"] == "check":
        problems = case["expected_problems"]
        return {"problems": problems, "raised": problems or None}
    return {"result": case["expected"]}


def compare_js(results: list[dict], what: str) -> None:
    cases = golden()["cases"]
    assert len(results) == len(cases)
    failures = []
    for case, got in zip(cases, results):
        diffs = [f"raised {got['error']}"] if "error" in got else list(differences(expected_of(case), got))
        if diffs:
            failures.append((case["name"], diffs))
    assert not failures, report(failures, len(cases), what)


# ---------------------------------------------------------------------------------------------
# (a) the Python engine still produces every expected result


def test_the_golden_cases_cover_the_kinds_and_every_shipped_standard():
    cases = golden()["cases"]
    kinds = {c["kind"] for c in cases}
    assert kinds == {"sample", "boundary", "rule", "edge", "check"}
    assert len({c["name"] for c in cases}) == len(cases)
    scored = {c["standard_ref"] for c in cases if c["kind"] == "sample"}
    assert scored == {s.ref for s in shipped_catalog().list()}, "a shipped standard has no golden cases. " + REGENERATE


def test_the_stored_standards_are_the_shipped_ones():
    catalog = shipped_catalog()
    for key, stored in golden()["standards"].items():
        if "/" in key:  # hand-built standards of the generator (rules/..., edge/..., check/...)
            continue
        assert key in catalog.standards, f"{key} is no longer shipped. {REGENERATE}"
        assert stored == msgspec.to_builtins(catalog.get(key)), f"the shipped standard {key} changed. {REGENERATE}"


def test_the_python_engine_still_gives_every_expected_result():
    data = golden()
    standards = {k: msgspec.json.decode(msgspec.json.encode(v), type=Standard) for k, v in data["standards"].items()}
    failures = []
    for case in data["cases"]:
        standard = standards[case["standard_ref"]]
        sheet = msgspec.json.decode(msgspec.json.encode(case["sheet"]), type=AnswerSheet)
        if case["kind"] == "check":
            got: object = check_sheet(standard, sheet)
            want: object = case["expected_problems"]
        else:
            as_of = dt.date.fromisoformat(case["as_of"])
            got = msgspec.to_builtins(score(standard, sheet, as_of, case.get("weights")))
            want = case["expected"]
        diffs = list(differences(want, got))
        if diffs:
            failures.append((case["name"], diffs))
    assert not failures, report(failures, len(data["cases"]), "from checklists/scoring.py now") + "\n" + REGENERATE


# ---------------------------------------------------------------------------------------------
# (b) rules.js gives the same results, in headless Chromium


class _Handler(BaseHTTPRequestHandler):
    """Serves a blank page, /app/rules.js and /golden/rules.json (ES modules do not load from file://)."""

    routes = {
        "/": (None, "text/html; charset=utf-8"),
        "/app/rules.js": (RULES_JS, "text/javascript; charset=utf-8"),
        "/golden/rules.json": (GOLDEN, "application/json"),
    }

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        path, content_type = route
        body = path.read_bytes() if path else b'<!doctype html><meta charset="utf-8"><title>rules.js golden</title>'
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def served() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/system-deps.sh installs it)")
def test_rules_js_matches_the_golden_cases_in_chromium(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{served}/")
            results = page.evaluate(
                "async () => {" + RUNNER + """
                const rules = await import("/app/rules.js");
                const data = await (await fetch("/golden/rules.json")).json();
                return runGolden(rules, data);
                }"""
            )
            assert not errors, errors
        finally:
            browser.close()
    compare_js(json.loads(results), "between rules.js in Chromium and the Python engine")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_rules_js_matches_the_golden_cases_in_node():
    script = RUNNER + f"""
    const rules = await import({json.dumps(RULES_JS.as_uri())});
    const fs = await import("node:fs");
    process.stdout.write(runGolden(rules, JSON.parse(fs.readFileSync({json.dumps(str(GOLDEN))}, "utf8"))));
    """
    run = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    compare_js(json.loads(run.stdout), "between rules.js in Node and the Python engine")
