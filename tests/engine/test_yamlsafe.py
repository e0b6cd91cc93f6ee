"""engine.yamlsafe.load_yaml: the one YAML loader. Safe, bounded, line-numbered.

Every refusal is a LoadError whose `.problems` say `file:line: what: how to fix`; the exact text is
asserted because policy analysts read it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
import yaml

from engine.errors import LoadError, Problem
from engine.yamlsafe import MAX_BYTES, MAX_DEPTH, YList, YMap, line_of, load_yaml


def refusal(text: str | bytes, **kwargs: int) -> LoadError:
    with pytest.raises(LoadError) as info:
        load_yaml(text, "f.yaml", **kwargs)
    return info.value


def only_problem(text: str | bytes, **kwargs: int) -> Problem:
    error = refusal(text, **kwargs)
    assert len(error.problems) == 1, error.problems
    return error.problems[0]


# -- plain data loads, with its lines -------------------------------------------------------------
def test_it_loads_plain_yaml_data():
    text = 'ruleset: acme\nversion: 4\nfrom: 2026-01-01\nflag: true\ncodes: ["72148", 5]\n'
    assert load_yaml(text, "f.yaml") == {
        "ruleset": "acme",
        "version": 4,
        "from": date(2026, 1, 1),
        "flag": True,
        "codes": ["72148", 5],
    }


def test_it_remembers_the_line_of_every_mapping_key():
    data = load_yaml("# a comment\nruleset: acme\n\npayer: acme\nscope:\n  urgency: emergency\n", "f.yaml")
    assert isinstance(data, YMap)
    assert data.line == 2
    assert data.lines == {"ruleset": 2, "payer": 4, "scope": 5}
    assert isinstance(data["scope"], YMap)
    assert data["scope"].lines == {"urgency": 6}


def test_it_remembers_the_line_of_every_list_element():
    data = load_yaml('codes:\n  - "72148"\n\n  - "72149"\n  - {x: 1}\nflow: [a,\n  b]\n', "f.yaml")
    assert isinstance(data["codes"], YList)
    assert data["codes"].line == 2
    assert data["codes"].lines == [2, 4, 5]
    assert data["codes"][2].lines == {"x": 5}
    assert data["flow"].lines == [6, 7]


def test_line_of_finds_a_key_an_element_or_the_container_itself():
    data = load_yaml("a: 1\nb:\n  - x\n  - y\n", "f.yaml")
    assert line_of(data, "b") == 2
    assert line_of(data["b"], 1) == 4
    assert line_of(data["b"]) == 3
    assert line_of(data, "absent") == 1
    assert line_of({"plain": "dict"}, "plain") is None


def test_an_anchor_that_nothing_refers_to_is_harmless():
    assert load_yaml("a: &x 1\nb: 2\n", "f.yaml") == {"a": 1, "b": 2}


def test_it_keeps_the_file_name_it_was_given_in_every_problem():
    with pytest.raises(LoadError) as info:
        load_yaml("a: 1\na: 2\n", "rulesets/acme-commercial.yaml")
    assert str(info.value).startswith("rulesets/acme-commercial.yaml:2: ")


# -- refusals -------------------------------------------------------------------------------------
def test_it_refuses_an_alias_on_the_line_of_the_alias():
    problem = only_problem("a: &x 1\nb: *x\n")
    assert str(problem) == (
        "f.yaml:2: YAML aliases (*name) are not allowed: "
        "write the value out in full instead of referring to an anchor"
    )


def test_it_refuses_a_billion_laughs_document_without_expanding_it():
    lol = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lol += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
    assert only_problem(lol).line == 2


def test_it_refuses_a_duplicate_key_naming_both_lines():
    problem = only_problem("ruleset: acme\npayer: acme\nversion: 1\npayer: other\n")
    assert problem == Problem(
        "f.yaml", 4, "duplicate key 'payer' (first on line 2)", "remove or rename one of them"
    )
    assert str(problem) == "f.yaml:4: duplicate key 'payer' (first on line 2): remove or rename one of them"


def test_it_refuses_a_duplicate_key_in_a_nested_flow_mapping():
    problem = only_problem("rules:\n  - id: a\n    then: {auth: required,\n           auth: review}\n")
    assert str(problem) == "f.yaml:4: duplicate key 'auth' (first on line 3): remove or rename one of them"


def test_it_refuses_a_merge_key():
    problem = only_problem("base: {x: 1}\nrule:\n  <<: {y: 2}\n")
    assert str(problem) == "f.yaml:3: YAML merge keys (<<) are not allowed: write the keys out in full"


def test_it_refuses_a_merge_key_that_refers_to_an_anchor_at_the_alias():
    problem = only_problem("base: &b {x: 1}\nrule:\n  <<: *b\n")
    assert problem.line == 3
    assert problem.message == "YAML aliases (*name) are not allowed"


@pytest.mark.parametrize(
    ("text", "tag", "fix"),
    [
        (
            "a: 1\nrun: !!python/object/apply:os.system ['echo hacked']\n",
            "tag:yaml.org,2002:python/object/apply:os.system",
            "use a plain YAML list",
        ),
        (
            "a: 1\nrun: !!python/name:os.system\n",
            "tag:yaml.org,2002:python/name:os.system",
            "use plain YAML values (no !tags)",
        ),
        (
            "a: 1\nrun: !!python/object:collections.OrderedDict {x: 1}\n",
            "tag:yaml.org,2002:python/object:collections.OrderedDict",
            "use a plain YAML mapping",
        ),
        ("a: 1\nb: !custom value\n", "!custom", "use plain YAML values (no !tags)"),
        ("a: 1\nb: !custom {x: 1}\n", "!custom", "use a plain YAML mapping"),
        ("a: 1\nb: !custom [1]\n", "!custom", "use a plain YAML list"),
        ("a: 1\nb: !!set {x, y}\n", "tag:yaml.org,2002:set", "use a plain YAML mapping"),
        ("a: 1\nb: !!omap [x: 1]\n", "tag:yaml.org,2002:omap", "use a plain YAML list"),
    ],
)
def test_it_refuses_python_tags_and_every_other_tag(text, tag, fix):
    problem = only_problem(text)
    assert str(problem) == f"f.yaml:2: unsupported YAML tag '{tag}': {fix}"


def test_a_refused_python_tag_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    code = (
        "from engine.yamlsafe import load_yaml\n"
        "from engine.errors import LoadError\n"
        f"text = \"a: !!python/object/apply:os.system ['touch {marker}']\"\n"
        "try:\n    load_yaml(text, 'f.yaml')\nexcept LoadError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not marker.exists()


def test_it_refuses_the_binary_tag():
    problem = only_problem("a: 1\nb: !!binary aGVsbG8=\n")
    assert (
        str(problem)
        == "f.yaml:2: unsupported YAML tag 'tag:yaml.org,2002:binary': use plain YAML values (no !tags)"
    )


def test_it_refuses_a_mapping_as_a_key():
    problem = only_problem("a: 1\n? [x, y]\n: z\n")
    assert str(problem) == "f.yaml:2: a mapping key must be a plain value: use a string key"


def test_it_refuses_text_over_the_size_limit_before_parsing_it():
    problem = only_problem("a: 1\n" + "b" * 100, max_bytes=50)
    assert str(problem) == "f.yaml: the file is 105 bytes, over the limit of 50: split it up"


def test_the_size_limit_counts_bytes_not_characters():
    # "é" is two bytes in UTF-8: 30 of them are 60 bytes
    problem = only_problem("a: " + "é" * 30, max_bytes=50)
    assert problem.message == "the file is 63 bytes, over the limit of 50"


def test_the_default_size_limit_is_four_megabytes():
    assert MAX_BYTES == 4 * 1024 * 1024
    problem = only_problem("#" * (MAX_BYTES + 1))
    assert problem.message == f"the file is {MAX_BYTES + 1} bytes, over the limit of {MAX_BYTES}"


def test_it_loads_nesting_up_to_its_depth_limit():
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value = load_yaml(text, "f.yaml")
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


def test_it_refuses_nesting_beyond_its_depth_limit():
    text = "a: 1\nb: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    problem = only_problem(text)
    assert (
        str(problem) == f"f.yaml:2: the document nests deeper than {MAX_DEPTH} levels: flatten the structure"
    )


def test_it_refuses_deep_block_nesting_too():
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "x\n"
    problem = only_problem(text)
    assert problem.message == f"the document nests deeper than {MAX_DEPTH} levels"
    assert problem.line == MAX_DEPTH


def test_plain_pyyaml_hits_a_recursion_error_on_100000_nested_brackets():
    # the trap the loader exists to avoid: RecursionError is not a YAMLError
    code = "import yaml\ntry:\n    yaml.safe_load('[' * 100000)\nexcept RecursionError:\n    print('RecursionError')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "RecursionError"


def test_it_refuses_100000_nested_brackets_as_a_load_error():
    problem = only_problem("[" * 100_000)
    assert (
        str(problem) == f"f.yaml:1: the document nests deeper than {MAX_DEPTH} levels: flatten the structure"
    )


def test_it_refuses_100000_nested_flow_mappings_as_a_load_error():
    problem = only_problem("{a: " * 100_000)
    assert problem.message == f"the document nests deeper than {MAX_DEPTH} levels"


def test_it_reports_invalid_yaml_with_its_line():
    problem = only_problem("ruleset: acme\npayer: [acme\nversion: 4\n")
    assert str(problem) == (
        "f.yaml:3: invalid YAML: expected ',' or ']', but got ':': check indentation and quoting"
    )


def test_it_reports_bad_indentation_with_its_line():
    problem = only_problem("ruleset: acme\npayer: acme\n  version: 4\n")
    assert (
        str(problem)
        == "f.yaml:3: invalid YAML: mapping values are not allowed here: check indentation and quoting"
    )


def test_it_reports_a_tab_used_for_indentation_with_its_line():
    problem = only_problem("rules:\n\t- id: a\n")
    assert str(problem) == (
        "f.yaml:2: invalid YAML: found character '\\t' that cannot start any token: check indentation and quoting"
    )


def test_it_refuses_a_second_document_in_the_stream():
    problem = only_problem("a: 1\n---\nb: 2\n")
    assert problem.line == 2
    assert problem.message.startswith("invalid YAML: ")


def test_it_refuses_an_empty_document():
    assert (
        str(only_problem("# only a comment\n"))
        == "f.yaml:1: the document is empty: write the document's keys"
    )


def test_it_refuses_bytes_that_are_not_utf8():
    problem = only_problem(b"ruleset: acme\ntitle: caf\xe9\n")
    assert str(problem) == "f.yaml: the file is not UTF-8 text: save it as UTF-8"


def test_it_reads_utf8_bytes():
    assert load_yaml("title: Café\n".encode(), "f.yaml") == {"title": "Café"}


def test_a_load_error_lists_its_problems_and_reads_as_their_lines():
    error = refusal("a: 1\na: 2\n")
    assert isinstance(error.problems, tuple)
    assert str(error) == "\n".join(str(p) for p in error.problems)


def test_it_refuses_a_control_character_with_its_line():
    problem = only_problem("ruleset: acme\npayer: acme\ntitle: \x07bell\n")
    assert str(problem) == (
        "f.yaml:3: the text holds a character YAML does not allow (special characters are not allowed): "
        "remove it"
    )


def test_it_refuses_a_control_character_in_utf8_bytes_too():
    problem = only_problem(b"ruleset: acme\ntitle: \x1b[31m\n")
    assert problem.line == 2


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "2026-04-31"])
def test_it_refuses_an_impossible_date_with_its_line(value):
    problem = only_problem(f"ruleset: acme\neffective: {{from: 2026-01-01, to: {value}}}\n")
    assert str(problem) == f"f.yaml:2: '{value}' is not a real date: write a valid date as YYYY-MM-DD"


def test_a_quoted_impossible_date_is_just_text():
    assert load_yaml('to: "2026-02-30"\n', "f.yaml") == {"to": "2026-02-30"}


def test_plain_pyyaml_would_have_accepted_what_we_refuse():
    # the refusals above are ours: PyYAML's safe loader takes aliases, merges and duplicates silently
    assert yaml.safe_load("a: &x 1\nb: *x\nc: 1\nc: 2\nd:\n  <<: {y: 2}\n") == {
        "a": 1,
        "b": 1,
        "c": 2,
        "d": {"y": 2},
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\r\nb: 2\r\nb: 3\r\n",
        "\ufeffa: 1\nb: 2\nb: 3\n",
        b"\xef\xbb\xbfa: 1\nb: 2\nb: 3\n",
    ],
    ids=["crlf", "bom-text", "bom-bytes"],
)
def test_line_numbers_hold_with_windows_line_ends_and_a_byte_order_mark(text):
    problem = only_problem(text)
    assert str(problem) == "f.yaml:3: duplicate key 'b' (first on line 2): remove or rename one of them"
