"""Broken standard files: each problem names the file, the line (where the loader can know it), the
item id and what is wrong. Every case mutates one small valid standard (conftest.BASE_TOML)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    BASE_REF,
    BASE_TOML,
    OVERLAY_TOML,
    line_of,
    mutate,
    only_problem,
    sha256_of,
)

from checklists.loader import Problem, build_catalog, lint, parse_file
from server.cli import main

HEADER = 1  # header-level problems (file name, lock, extends) are reported on the [standard] line


def mutated(*changes: tuple[str, str], text: str = BASE_TOML) -> str:
    for old, new in changes:
        text = mutate(text, old, new)
    return text


def test_the_base_fixture_is_valid_and_quotes_are_located(catalog_of):
    catalog = catalog_of({"mini/2021.toml": BASE_TOML})
    assert catalog.problems == []
    standard = catalog.get(BASE_REF)
    assert [i.id for i in standard.items] == ["TS-BZ-01", "TS-BZ-02", "TS-DW-01", "TS-DW-02"]
    # the quote of TS-DW-01 elides text with …… across two source lines; it starts on line 4
    assert {i.id: i.provenance[0].line for i in standard.items} == {
        "TS-BZ-01": 2,
        "TS-BZ-02": 3,
        "TS-DW-01": 4,
        "TS-DW-02": 6,
    }
    assert len(standard.content_hash) == 64


# (case, changes to BASE_TOML, message fragment, item id, needle on the expected line or None)
CASES = [
    (
        "toml_syntax_error",
        [('question = "综合应急救援队伍人数"', 'question = "综合应急救援队伍人数')],
        "TOML syntax error",
        None,
        'question = "综合应急救援队伍人数',
    ),
    (
        "unknown_field",
        [('unit = "人"', 'unit = "人"\ncolour = "red"')],
        "unknown field `colour`",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "missing_required_field",
        [('question = "综合应急救援队伍人数"\n', "")],
        "missing required field `question`",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "bad_item_id_pattern",
        [('id = "TS-DW-01"', 'id = "TS-DW-1"')],
        "matching regex",
        "TS-DW-1",
        'id = "TS-DW-1"',
    ),
    (
        "wrong_type_in_rule",
        [("value = 15", 'value = "十五"')],
        "`$.items[2].rule.value`",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "unknown_rule_op",
        [('rule = { op = "yes" }', 'rule = { op = "maybe" }')],
        "'maybe'",
        "TS-BZ-01",
        'id = "TS-BZ-01"',
    ),
    (
        "unknown_answer_type",
        [('answer = "yes_no"', 'answer = "yes_or_no"')],
        "`$.items[0].answer`",
        "TS-BZ-01",
        'id = "TS-BZ-01"',
    ),
    (
        "child_share_percent_over_100_is_a_type_error",
        [
            ('answer = "count"', 'answer = "computed"'),
            (
                'rule = { op = "gte", value = 15 }',
                'rule = { op = "child_share", item = "VC-DW-01", where = { op = "yes" }, min_percent = 120 }',
            ),
        ],
        "<= 100",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "duplicate_item_id",
        [('id = "TS-DW-02"', 'id = "TS-DW-01"')],
        "item id is used 2 times",
        "TS-DW-01",
        'id = "TS-DW-01"',  # reported at the first definition
    ),
    (
        "unknown_dimension",
        [('dimension = "DW"\nquestion = "综合', 'dimension = "XX"\nquestion = "综合')],
        "unknown dimension 'XX'",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "gte_rule_on_yes_no_answer",
        [('rule = { op = "yes" }', 'rule = { op = "gte", value = 1 }')],
        "rule gte cannot apply to a yes_no answer",
        "TS-BZ-01",
        'id = "TS-BZ-01"',
    ),
    (
        "yes_rule_on_count_answer",
        [('rule = { op = "gte", value = 15 }', 'rule = { op = "yes" }')],
        "rule yes cannot apply to a count answer",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "includes_option_not_among_options",
        [('{ value = "防汛抗旱" }, ', '{ value = "地质灾害" }, ')],
        "rule includes: '地质灾害' is not an option",
        "TS-BZ-02",
        'id = "TS-BZ-02"',
    ),
    (
        "enum_value_not_among_options",
        [
            ('answer = "yes_no"', 'answer = "enum"\noptions = ["健全", "不健全"]'),
            ('rule = { op = "yes" }', 'rule = { op = "in", values = ["健全", "完善"] }'),
        ],
        "rule in: '完善' is not an option",
        "TS-BZ-01",
        'id = "TS-BZ-01"',
    ),
    (
        "enum_without_options",
        [
            ('answer = "yes_no"', 'answer = "enum"'),
            ('rule = { op = "yes" }', 'rule = { op = "present" }'),
        ],
        "answer type enum needs options",
        "TS-BZ-01",
        'id = "TS-BZ-01"',
    ),
    (
        "provenance_quote_not_in_source",
        [('quote = "每年开展应急演练不少于 2 次"', 'quote = "每年开展应急演练不少于 3 次"')],
        "provenance quote not found in src.txt",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "provenance_source_unknown",
        [('source = "src.txt"\nquote = "每年', 'source = "nope.txt"\nquote = "每年')],
        "provenance source 'nope.txt' is not a file",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "condition_on_undeclared_attribute",
        [('basis = "S"\nrule = { op = "records"', 'basis = "S"\nwhen = [{ attr = "remote", equals = true }]\nrule = { op = "records"')],
        "condition on undeclared unit attribute 'remote'",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "option_condition_on_undeclared_attribute",
        [('attr = "forested"', 'attr = "remote"')],
        "condition on undeclared unit attribute 'remote'",
        "TS-BZ-02",
        'id = "TS-BZ-02"',
    ),
    (
        "condition_compares_bool_attribute_with_text",
        [('basis = "S"\nrule = { op = "records"', 'basis = "S"\nwhen = [{ attr = "forested", equals = "是" }]\nrule = { op = "records"')],
        "compares a bool attribute with '是'",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "records_rule_with_undeclared_kind",
        [('kind = "drill"', 'kind = "training"')],
        "undeclared record kind 'training'",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "records_per_months_without_months",
        [('per = "year"', 'per = "months"')],
        'per = "months" needs months',
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "records_each_of_on_undeclared_field",
        [('per = "year" }', 'per = "year", field = "type", each_of = ["桌面推演"] }')],
        "record kind 'drill' has no field 'type'",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "records_cover_against_a_non_multi_select_item",
        [
            (
                'rule = { op = "records", kind = "drill", min = 2, per = "year" }',
                'rule = { op = "records_cover", kind = "drill", field = "plan", against_item = "TS-DW-01", within_months = 24 }',
            )
        ],
        "TS-DW-01 is not a multi_select item",
        "TS-DW-02",
        'id = "TS-DW-02"',
    ),
    (
        "percent_threshold_over_100",
        [('answer = "count"', 'answer = "percent"'), ("value = 15", "value = 120")],
        "a percentage threshold must be within 0-100, got 120",
        "TS-DW-01",
        'id = "TS-DW-01"',
    ),
    (
        "village_item_in_township_standard",
        [('id = "TS-DW-02"', 'id = "VC-DW-02"')],
        "a township standard's item ids start with TS-",
        "VC-DW-02",
        'id = "VC-DW-02"',
    ),
    (
        "dimension_without_mandatory_items",
        [('unit = "人"\nmandatory = true', 'unit = "人"\nmandatory = false')],
        "dimension DW has no mandatory item",
        None,
        None,
    ),
    (
        "dimension_without_items",
        [('[[dimensions]]\ncode = "DW"', '[[dimensions]]\ncode = "WZ"\nname = "有应急物资"\nshort = "有物资"\n\n[[dimensions]]\ncode = "DW"')],
        "dimension WZ has no items",
        None,
        None,
    ),
    (
        "dimension_defined_twice",
        [('[[dimensions]]\ncode = "DW"', '[[dimensions]]\ncode = "BZ"\nname = "重复"\nshort = "重复"\n\n[[dimensions]]\ncode = "DW"')],
        "dimension BZ is defined 2 times",
        None,
        None,
    ),
    (
        "deadline_before_effective",
        [('status = "draft"', 'status = "draft"\neffective = 2021-06-01\ndeadline = 2021-01-01')],
        "deadline is before effective date",
        None,
        "[standard]",
    ),
    (
        "override_in_a_base_standard",
        [('[[items]]\nid = "TS-BZ-01"', '[[override]]\nid = "TS-BZ-01"\nmandatory = false\n\n[[items]]\nid = "TS-BZ-01"')],
        "override/remove are only allowed in an overlay",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("changes", "message", "item", "line_needle"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_broken_standard_file_is_reported(catalog_of, tmp_path, changes, message, item, line_needle):
    text = mutated(*changes)
    catalog = catalog_of({"mini/2021.toml": text})
    problem = only_problem(catalog.problems, message)
    assert problem.file == str(tmp_path / "standards" / "mini" / "2021.toml")
    assert problem.item == item
    if line_needle is not None:  # None: a problem of the whole standard, no single line to name
        assert problem.line == line_of(text, line_needle)
    assert BASE_REF not in catalog.standards  # a standard with problems is not usable


def test_problem_reads_file_line_item_message():
    p = Problem("hunan/x/2021.toml", "unknown dimension 'XX'", 42, "TS-DW-01")
    assert str(p) == "hunan/x/2021.toml:42: [TS-DW-01] unknown dimension 'XX'"
    assert str(Problem("a.toml", "no dimensions")) == "a.toml: no dimensions"


def test_all_problems_of_a_file_are_reported_at_once(catalog_of):
    text = mutated(
        ('rule = { op = "yes" }', 'rule = { op = "gte", value = 1 }'),
        ('kind = "drill"', 'kind = "training"'),
    )
    problems = catalog_of({"mini/2021.toml": text}).problems
    assert {(p.item, p.message.split(":")[0]) for p in problems} >= {
        ("TS-BZ-01", "rule gte cannot apply to a yes_no answer"),
        ("TS-DW-02", "rule records"),
    }


# ---------------------------------------------------------------------------------------------
# File-level problems


def test_file_name_must_match_version(catalog_of, tmp_path):
    problems = catalog_of({"mini/2022.toml": BASE_TOML}).problems
    problem = only_problem(problems, "file name 2022.toml does not match version 2021")
    assert problem.file == str(tmp_path / "standards" / "mini" / "2022.toml")
    assert problem.line == HEADER


def test_same_version_defined_in_two_files(catalog_of):
    problems = catalog_of({"a/2021.toml": BASE_TOML, "b/2021.toml": BASE_TOML}).problems
    problem = only_problem(problems, f"{BASE_REF} is also defined in")
    assert problem.file.endswith("b/2021.toml") and "a/2021.toml" in problem.message


PUBLISHED = mutate(BASE_TOML, 'status = "draft"', 'status = "published"')


def test_published_file_matching_the_lock_is_fine(write_standard, sources):
    path = write_standard(PUBLISHED)
    catalog = build_catalog([path], lock={BASE_REF: sha256_of(path)}, sources=sources)
    assert catalog.problems == []
    assert catalog.get(BASE_REF).status == "published"


def test_published_file_changed_after_publication(write_standard, sources):
    path = write_standard(PUBLISHED)
    lock = {BASE_REF: sha256_of(path)}
    path.write_text(mutate(PUBLISHED, "value = 15", "value = 12"), "utf-8")  # someone lowers a threshold
    problems = build_catalog([path], lock=lock, sources=sources).problems
    problem = only_problem(problems, "was changed after publication")
    assert problem.file == str(path) and problem.line == HEADER
    assert "publish the fix as a new version" in problem.message


def test_published_file_not_in_lock(write_standard, sources):
    path = write_standard(PUBLISHED)
    problem = only_problem(build_catalog([path], lock={}, sources=sources).problems, "not in published.lock")
    assert problem.line == HEADER


def test_published_version_cannot_go_back_to_draft(write_standard, sources):
    path = write_standard(BASE_TOML)
    problems = build_catalog([path], lock={BASE_REF: sha256_of(path)}, sources=sources).problems
    assert only_problem(problems, "cannot go back to draft").file == str(path)


# ---------------------------------------------------------------------------------------------
# Overlays


def test_overlay_resolves_into_one_flat_standard(catalog_of):
    catalog = catalog_of({"mini/2021.toml": BASE_TOML, "overlay/2022.toml": OVERLAY_TOML})
    assert catalog.problems == []
    overlay = catalog.get("test.township.overlay@2022")
    assert [i.id for i in overlay.items] == ["TS-BZ-01", "TS-BZ-02", "TS-DW-01", "TS-DW-02", "TS-DW-03"]
    assert overlay.item("TS-DW-02").mandatory is True
    assert catalog.get(BASE_REF).item("TS-DW-02").mandatory is False  # the base is untouched
    assert overlay.extends == BASE_REF


def test_overlay_remove_and_remove_dimensions(catalog_of):
    text = 'remove = ["TS-BZ-02"]\n' + OVERLAY_TOML  # top-level keys go before [standard]
    catalog = catalog_of({"mini/2021.toml": BASE_TOML, "overlay/2022.toml": text})
    assert catalog.problems == []
    assert "TS-BZ-02" not in [i.id for i in catalog.get("test.township.overlay@2022").items]


def overlay_problems(catalog_of, text: str) -> list[Problem]:
    return catalog_of({"mini/2021.toml": BASE_TOML, "overlay/2022.toml": text}).problems


def test_overlay_extends_unknown_base(catalog_of, tmp_path):
    text = mutate(OVERLAY_TOML, "test.township.mini@2021", "test.township.nope@2021")
    problem = only_problem(overlay_problems(catalog_of, text), "extends unknown standard 'test.township.nope@2021'")
    assert problem.file == str(tmp_path / "standards" / "overlay" / "2022.toml")
    assert problem.line == HEADER


def test_override_of_an_item_not_in_the_base(catalog_of, tmp_path):
    text = mutate(OVERLAY_TOML, 'id = "TS-DW-02"\nmandatory = true', 'id = "TS-DW-09"\nmandatory = true')
    problem = only_problem(overlay_problems(catalog_of, text), "override: no such item in the base standard")
    assert problem.file == str(tmp_path / "standards" / "overlay" / "2022.toml")
    assert problem.item == "TS-DW-09"
    assert problem.line == line_of(text, 'id = "TS-DW-09"')


def test_remove_of_an_item_not_in_the_base(catalog_of):
    text = 'remove = ["TS-DW-09"]\n' + OVERLAY_TOML  # top-level keys go before [standard]
    problem = only_problem(overlay_problems(catalog_of, text), "remove: no such item in the base standard")
    assert problem.item == "TS-DW-09" and problem.file.endswith("overlay/2022.toml")


def test_override_of_a_removed_item(catalog_of):
    text = 'remove = ["TS-DW-02"]\n' + OVERLAY_TOML  # top-level keys go before [standard]
    problem = only_problem(overlay_problems(catalog_of, text), "no such item in the base standard (or removed)")
    assert problem.item == "TS-DW-02"


def test_remove_of_an_unknown_dimension(catalog_of):
    text = 'remove_dimensions = ["WZ"]\n' + OVERLAY_TOML  # top-level keys go before [standard]
    only_problem(overlay_problems(catalog_of, text), "remove_dimensions: base has no dimension WZ")


def test_overlay_item_already_in_the_base(catalog_of):
    text = mutate(OVERLAY_TOML, 'id = "TS-DW-03"', 'id = "TS-DW-01"')
    problem = only_problem(overlay_problems(catalog_of, text), "item already in the base standard: use [[override]]")
    assert problem.item == "TS-DW-01"
    assert problem.line == line_of(text, 'id = "TS-DW-01"')


def test_overlay_level_must_match_its_base(catalog_of):
    text = mutate(OVERLAY_TOML, 'level = "township"', 'level = "village"')
    only_problem(overlay_problems(catalog_of, text), "level village differs from base level township")


def test_override_that_breaks_a_rule_is_reported_in_the_overlay(catalog_of, tmp_path):
    text = mutate(
        OVERLAY_TOML,
        'id = "TS-DW-02"\nmandatory = true',
        'id = "TS-DW-02"\nmandatory = true\nrule = { op = "records", kind = "meeting", min = 1, per = "year" }',
    )
    problem = only_problem(overlay_problems(catalog_of, text), "undeclared record kind 'meeting'")
    assert problem.file == str(tmp_path / "standards" / "overlay" / "2022.toml")
    assert problem.item == "TS-DW-02"
    assert problem.line == line_of(text, 'id = "TS-DW-02"')


def test_extends_cycle(catalog_of):
    a = mutate(OVERLAY_TOML, "test.township.mini@2021", "test.township.other@2022")
    b = mutate(
        mutate(OVERLAY_TOML, 'id = "test.township.overlay"', 'id = "test.township.other"'),
        "test.township.mini@2021",
        "test.township.overlay@2022",
    )
    problems = catalog_of({"mini/2021.toml": BASE_TOML, "overlay/2022.toml": a, "other/2022.toml": b}).problems
    assert len([p for p in problems if "extends cycle" in p.message]) == 2


# ---------------------------------------------------------------------------------------------
# lint() and `dabiao standards lint`


def test_lint_returns_problems_of_the_given_file(write_standard):
    text = mutate(BASE_TOML, 'question = "综合应急救援队伍人数"', 'question = "综合应急救援队伍人数')
    path = write_standard(text)
    problems = lint([path])
    assert len(problems) == 1
    assert problems[0].file == str(path) and problems[0].line == line_of(text, 'question = "综合应急救援队伍人数')


def test_parse_file_of_an_unreadable_file(tmp_path):
    path = tmp_path / "2021.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    problem = parse_file(path)
    assert isinstance(problem, Problem) and "cannot read file" in problem.message


def test_cli_lint_of_a_bad_file_exits_1_and_prints_file_and_line(write_standard, capsys):
    text = mutate(BASE_TOML, 'rule = { op = "yes" }', 'rule = { op = "gte", value = 1 }')
    path: Path = write_standard(text)
    assert main(["standards", "lint", str(path)]) == 1
    err = capsys.readouterr().err
    line = line_of(text, 'id = "TS-BZ-01"')
    assert f"{path}:{line}: [TS-BZ-01] rule gte cannot apply to a yes_no answer" in err
    assert "problem(s)" in err


def test_cli_lint_of_a_missing_file_exits_1(tmp_path, capsys):
    assert main(["standards", "lint", str(tmp_path / "nope.toml")]) == 1
    assert "nope.toml: no such file" in capsys.readouterr().err
