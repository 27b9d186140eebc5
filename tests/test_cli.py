"""The `dabiao` command line: standards list / show / lint, and score (JSON out, exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_REF, BASE_TOML

import checklists.loader as loader
from checklists.loader import build_catalog, load_catalog
from server.cli import main

REPO = Path(__file__).resolve().parent.parent
DABIAO = REPO / ".venv" / "bin" / "dabiao"
LIUYOU = "hunan.township.liuyou"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# The shipped standards (whatever items they hold)


@pytest.fixture(scope="module")
def shipped():
    return load_catalog()


def test_standards_list_shows_every_shipped_version(capsys, shipped):
    code, out, _ = run(capsys, "standards", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(shipped.standards)
    for s in shipped.list():
        line = next(x for x in lines if x.startswith(s.ref + " "))
        assert s.title in line and s.level in line and f"{len(s.items)}项" in line
    assert any(line.startswith(f"{LIUYOU}@") for line in lines)


def test_standards_show_prints_items_and_quoted_clauses(capsys, shipped):
    standard = shipped.get(LIUYOU)
    code, out, _ = run(capsys, "standards", "show", LIUYOU)
    assert code == 0
    assert standard.title in out
    assert f"编号 {standard.ref}" in out
    assert "层级：乡镇（街道）" in out
    for dim in standard.dimensions:
        assert f"【{dim.code} {dim.name}" in out
    for item in standard.items:
        assert f"{item.id} [" in out and item.question in out
        for clause in item.provenance:
            assert f"{clause.source}" in out and f"“{clause.quote}”" in out
            if clause.line:
                assert f"依据：{clause.source} 第{clause.line}行" in out


def test_standards_show_of_an_unknown_standard_exits_2(capsys):
    code, out, err = run(capsys, "standards", "show", "nowhere.township.nothing")
    assert code == 2 and out == ""
    assert "unknown standard 'nowhere.township.nothing'" in err


def test_standards_lint_passes_on_shipped_files(capsys):
    code, out, err = run(capsys, "standards", "lint")
    assert code == 0, err
    assert "standard file(s) ok" in out


def test_score_an_empty_sheet_against_a_shipped_standard(capsys, shipped, tmp_path):
    standard = shipped.get(LIUYOU)
    answers = tmp_path / "answers.json"
    answers.write_text("{}", "utf-8")
    code, out, err = run(capsys, "score", standard.ref, str(answers), "--as-of", "2024-06-30")
    assert code == 0, err
    result = json.loads(out)
    assert result["passed"] is False
    assert result["standard"] == LIUYOU and result["as_of"] == "2024-06-30"
    assert [i["id"] for i in result["items"]] == [i.id for i in standard.items]
    assert [d["code"] for d in result["dimensions"]] == [d.code for d in standard.dimensions]
    assert all(i["status"] in ("fail", "missing", "na") and i["reason"] for i in result["items"])


def test_score_rejects_a_wrong_type_for_a_shipped_item(capsys, shipped, tmp_path):
    standard = shipped.get(LIUYOU)
    item = next(i for i in standard.items if i.answer == "yes_no")
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": {item.id: {"value": "是"}}}, ensure_ascii=False), "utf-8")
    code, out, err = run(capsys, "score", standard.ref, str(answers), "--as-of", "2024-06-30")
    assert code == 2 and out == ""
    assert f"{answers}: answers.{item.id}: expected a yes_no value" in err


def test_score_subprocess_prints_json(shipped, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text('{"unit": "测试镇"}', "utf-8")
    proc = subprocess.run(
        [str(DABIAO), "score", shipped.get(LIUYOU).ref, str(answers), "--as-of", "2024-06-30"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"passed", "score", "dimensions", "items", "content_hash"}
    assert result["content_hash"] == shipped.get(LIUYOU).content_hash


def test_subprocess_lint_of_a_broken_file_exits_1(tmp_path):
    bad = tmp_path / "2021.toml"
    bad.write_text('[standard]\nid = "x.y"\nversion = "2021\n', "utf-8")
    proc = subprocess.run([str(DABIAO), "standards", "lint", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{bad}:3: TOML syntax error" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Scoring our own small standard through the CLI


@pytest.fixture
def small_catalog(monkeypatch, write_standard, sources):
    """The CLI sees only BASE_TOML (loaded with the tmp sources) as its catalog."""
    catalog = build_catalog([write_standard(BASE_TOML)], lock={}, sources=sources)
    assert catalog.problems == []
    monkeypatch.setattr(loader, "load_catalog", lambda *a, **kw: catalog)
    if hasattr(loader, "shipped_catalog"):
        monkeypatch.setattr(loader, "shipped_catalog", lambda *a, **kw: catalog)
    return catalog


def write_answers(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


ANSWERS = {
    "unit": "测试镇",
    "attributes": {"forested": False},
    "answers": {
        "TS-BZ-01": {"value": True},
        "TS-BZ-02": {"value": ["防汛抗旱"]},
        "TS-DW-01": {"value": 14},
    },
    "records": [
        {"id": "r1", "kind": "drill", "date": "2024-03-01"},
        {"id": "r2", "kind": "drill", "date": "2024-08-01"},
    ],
}


def test_score_prints_result_json(capsys, small_catalog, tmp_path):
    answers = write_answers(tmp_path, ANSWERS)
    code, out, err = run(capsys, "score", BASE_REF, str(answers), "--as-of", "2024-06-30")
    assert code == 0, err
    result = json.loads(out)
    assert result["passed"] is False
    assert result["score"] == 50.0  # BZ 2/2 = 100, DW 0/2 = 0
    assert [(d["code"], d["passed"], d["failing"]) for d in result["dimensions"]] == [
        ("BZ", True, []),
        ("DW", False, ["TS-DW-01"]),
    ]
    items = {i["id"]: i for i in result["items"]}
    assert {k: v["status"] for k, v in items.items()} == {
        "TS-BZ-01": "pass",
        "TS-BZ-02": "pass",
        "TS-DW-01": "fail",
        "TS-DW-02": "fail",
    }
    assert "不少于 15" in items["TS-DW-01"]["reason"] and "14" in items["TS-DW-01"]["reason"]
    assert "1 次" in items["TS-DW-02"]["reason"]  # the August drill is after the as-of date


def test_score_as_of_a_later_date_counts_later_records(capsys, small_catalog, tmp_path):
    answers = write_answers(tmp_path, ANSWERS)
    code, out, _ = run(capsys, "score", BASE_REF, str(answers), "--as-of", "2024-12-31")
    assert code == 0
    items = {i["id"]: i for i in json.loads(out)["items"]}
    assert items["TS-DW-02"]["status"] == "pass"


def test_score_a_passing_unit(capsys, small_catalog, tmp_path):
    data = json.loads(json.dumps(ANSWERS))
    data["answers"]["TS-DW-01"]["value"] = 15
    code, out, _ = run(capsys, "score", "test.township.mini", str(write_answers(tmp_path, data)), "--as-of", "2024-12-31")
    assert code == 0
    result = json.loads(out)
    assert result["passed"] is True and result["score"] == 100.0


@pytest.mark.parametrize(
    ("text", "says"), [('{"answers": {', "truncated"), ("{answers: 1}", "malformed"), ("", "truncated")]
)
def test_score_malformed_json_exits_2_naming_the_file(capsys, small_catalog, tmp_path, text, says):
    answers = tmp_path / "broken.json"
    answers.write_text(text, "utf-8")
    code, out, err = run(capsys, "score", BASE_REF, str(answers), "--as-of", "2024-06-30")
    assert code == 2 and out == ""
    assert err.startswith(f"{answers}: ") and says in err


def test_score_answers_not_matching_the_schema_exits_2_with_the_path(capsys, small_catalog, tmp_path):
    answers = write_answers(tmp_path, {"answers": {"TS-DW-01": {"value": 15, "colour": "red"}}})
    code, _, err = run(capsys, "score", BASE_REF, str(answers), "--as-of", "2024-06-30")
    assert code == 2
    assert str(answers) in err and "colour" in err and "$.answers" in err


def test_score_answer_of_the_wrong_type_exits_2(capsys, small_catalog, tmp_path):
    answers = write_answers(tmp_path, {"answers": {"TS-DW-01": {"value": "十五"}}})
    code, out, err = run(capsys, "score", BASE_REF, str(answers), "--as-of", "2024-06-30")
    assert code == 2 and out == ""
    assert f"{answers}: answers.TS-DW-01: expected a count value, got '十五'" in err


def test_score_unknown_item_and_record_kind_exit_2(capsys, small_catalog, tmp_path):
    data = {"answers": {"TS-XX-01": {"value": True}}, "records": [{"id": "r9", "kind": "party", "date": "2024-01-01"}]}
    code, _, err = run(capsys, "score", BASE_REF, str(write_answers(tmp_path, data)), "--as-of", "2024-06-30")
    assert code == 2
    assert "answers.TS-XX-01: no such item" in err and "records[r9]: unknown record kind 'party'" in err


def test_score_unknown_standard_exits_2(capsys, small_catalog, tmp_path):
    answers = write_answers(tmp_path, {})
    code, out, err = run(capsys, "score", "test.township.mini@1999", str(answers), "--as-of", "2024-06-30")
    assert code == 2 and out == ""
    assert "unknown standard 'test.township.mini@1999'" in err


def test_score_missing_answers_file_exits_2(capsys, small_catalog, tmp_path):
    code, _, err = run(capsys, "score", BASE_REF, str(tmp_path / "nope.json"), "--as-of", "2024-06-30")
    assert code == 2 and "nope.json" in err


def test_score_rejects_a_bad_as_of_date(capsys, small_catalog, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["score", BASE_REF, str(write_answers(tmp_path, {})), "--as-of", "2024-02-30"])
    assert exc.value.code == 2
    assert "not a date (YYYY-MM-DD): '2024-02-30'" in capsys.readouterr().err


def test_broken_catalog_stops_commands_with_exit_2(capsys, monkeypatch):
    def broken(*a, **kw):
        raise loader.StandardError([loader.Problem("x/2021.toml", "unknown dimension 'XX'", 7, "TS-XX-01")])

    monkeypatch.setattr(loader, "load_catalog", broken)
    if hasattr(loader, "shipped_catalog"):
        monkeypatch.setattr(loader, "shipped_catalog", broken)
    with pytest.raises(SystemExit) as exc:
        main(["standards", "list"])
    assert exc.value.code == 2
    assert "x/2021.toml:7: [TS-XX-01] unknown dimension 'XX'" in capsys.readouterr().err


def test_python_m_server_cli_works(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", "standards", "list"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert LIUYOU in proc.stdout
