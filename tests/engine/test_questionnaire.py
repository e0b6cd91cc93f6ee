"""Forms as FHIR R4 Questionnaires and answers as QuestionnaireResponses.

`fhir.resources` checks the structure but not the coded values (it accepts an item type "bogus"
and a status "nope"), so `r4_problems` and `response_problems` below check the R4 rules it skips:
the `item-type`, `publication-status` and enableWhen operator codes, que-1/2/3/5/6/7/12, linkIds
that enableWhen names, the `name` and `id` patterns, and for a response: status, linkIds, value
types that match item types and codes from answerOption.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from engine.errors import LoadError
from engine.forms import Form, load_form, load_form_file
from engine.questionnaire import EXT, ITEM_CONTROL, canonical_url, to_questionnaire, to_response

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "forms").glob("*.yaml"))
IDS = [p.stem for p in SHIPPED]
ANSWERS = ROOT / "tests" / "fixtures" / "forms" / "answers"

ITEM_TYPES = {
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
}
STATUSES = {"draft", "active", "retired", "unknown"}
OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}
NAME = re.compile(r"[A-Z]([A-Za-z0-9_]){0,254}")
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# the answer[x] / value[x] that each item type takes
VALUE_KEYS = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "string": "valueString",
    "text": "valueString",
    "choice": "valueCoding",
}


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def r4_problems(q: dict[str, Any]) -> list[str]:
    """The R4 Questionnaire rules fhir.resources does not check, broken by `q`."""
    out: list[str] = []
    if q.get("status") not in STATUSES:
        out.append(f"status {q.get('status')!r} is not a publication-status code")
    if "name" in q and not NAME.fullmatch(q["name"]):
        out.append(f"name {q['name']!r} does not match [A-Z]([A-Za-z0-9_]){{0,254}} (qst-0)")
    if "id" in q and not ID.fullmatch(q["id"]):
        out.append(f"id {q['id']!r} is not a FHIR id")
    items = list(_items(q.get("item", [])))
    link_ids = [i["linkId"] for i in items]
    if len(link_ids) != len(set(link_ids)):
        out.append("linkIds are not unique (que-2)")
    by_id = {i["linkId"]: i for i in items}
    for item in items:
        where = f"item {item['linkId']!r}"
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            out.append(f"{where}: type {kind!r} is not an item-type code")
        if kind == "display":
            if "required" in item or "repeats" in item:
                out.append(f"{where}: a display item has required/repeats (que-6)")
            if "item" in item:
                out.append(f"{where}: a display item has nested items (que-1)")
            if "code" in item:
                out.append(f"{where}: a display item has a code (que-3)")
        if kind == "group" and not item.get("item"):
            out.append(f"{where}: a group has no items (que-1)")
        if "answerOption" in item and kind not in ("choice", "open-choice"):
            out.append(f"{where}: answerOption on a {kind} item (que-5)")
        conditions = item.get("enableWhen", [])
        if ("enableBehavior" in item) != (len(conditions) > 1):
            out.append(
                f"{where}: enableBehavior must be present iff there is more than one enableWhen (que-12)"
            )
        if item.get("enableBehavior", "all") not in ("all", "any"):
            out.append(f"{where}: enableBehavior {item['enableBehavior']!r} is not all/any")
        for condition in conditions:
            operator = condition.get("operator")
            if operator not in OPERATORS:
                out.append(f"{where}: enableWhen operator {operator!r} is not a code")
            answers = [k for k in condition if k.startswith("answer")]
            if len(answers) != 1:
                out.append(f"{where}: enableWhen needs exactly one answer[x]")
            if operator == "exists" and answers != ["answerBoolean"]:
                out.append(f"{where}: enableWhen exists needs answerBoolean (que-7)")
            target = by_id.get(condition.get("question"))
            if target is None:
                out.append(f"{where}: enableWhen names unknown question {condition.get('question')!r}")
            elif operator != "exists" and answers:
                wanted = "answer" + VALUE_KEYS.get(target["type"], "?")[len("value") :]
                if answers[0] != wanted:
                    out.append(f"{where}: enableWhen on a {target['type']} question uses {answers[0]}")
    return out


def response_problems(q: dict[str, Any], r: dict[str, Any]) -> list[str]:
    """The QuestionnaireResponse rules fhir.resources does not check, broken by `r` for `q`."""
    out: list[str] = []
    if r.get("status") not in ("in-progress", "completed", "amended", "entered-in-error", "stopped"):
        out.append(f"status {r.get('status')!r} is not a questionnaire-answers-status code")
    by_id = {i["linkId"]: i for i in _items(q["item"])}
    for item in r.get("item", []):
        question = by_id.get(item["linkId"])
        if question is None:
            out.append(f"item {item['linkId']!r} is not in the Questionnaire")
            continue
        if len(item.get("answer", [])) > 1 and not question.get("repeats"):
            out.append(f"item {item['linkId']!r} has several answers but does not repeat")
        wanted = VALUE_KEYS[question["type"]]
        codes = {o["valueCoding"]["code"] for o in question.get("answerOption", [])}
        for answer in item.get("answer", []):
            keys = [k for k in answer if k.startswith("value")]
            if keys != [wanted]:
                out.append(f"item {item['linkId']!r}: {keys} for a {question['type']} item")
            elif wanted == "valueCoding" and answer[wanted]["code"] not in codes:
                out.append(f"item {item['linkId']!r}: code {answer[wanted]['code']!r} is not an answerOption")
    if r.get("status") == "completed":
        answered = {i["linkId"] for i in r.get("item", []) if i.get("answer")}
        for question in q["item"]:
            if (
                question.get("required")
                and "enableWhen" not in question
                and question["linkId"] not in answered
            ):
                out.append(f"completed, but required item {question['linkId']!r} has no answer")
    return out


def answers_of(form_id: str, which: str) -> dict[str, Any]:
    return json.loads((ANSWERS / f"{form_id}-{which}.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def imaging() -> Form:
    return load_form_file(ROOT / "forms" / "imaging-readiness.yaml")


def item_of(resource: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(i for i in _items(resource["item"]) if i["linkId"] == link_id)


# -- the checker itself can fail ------------------------------------------------------------------------
def test_the_r4_checker_finds_every_rule_a_broken_questionnaire_breaks():
    broken = {
        "resourceType": "Questionnaire",
        "status": "nope",
        "name": "3d-imaging",
        "item": [
            {"linkId": "a", "type": "bogus"},
            {"linkId": "a", "type": "integer", "answerOption": [{"valueInteger": 1}]},
            {"linkId": "d", "type": "display", "required": True, "item": [{"linkId": "x", "type": "string"}]},
            {
                "linkId": "b",
                "type": "string",
                "enableWhen": [
                    {"question": "a", "operator": "exists", "answerString": "x"},
                    {"question": "zz", "operator": "~", "answerString": "x"},
                ],
            },
            {
                "linkId": "c",
                "type": "string",
                "enableBehavior": "any",
                "enableWhen": [{"question": "x", "operator": "=", "answerInteger": 1}],
            },
            {"linkId": "g", "type": "group"},
        ],
    }
    assert Questionnaire.model_validate(broken)  # fhir.resources lets all of this through
    assert r4_problems(broken) == [
        "status 'nope' is not a publication-status code",
        "name '3d-imaging' does not match [A-Z]([A-Za-z0-9_]){0,254} (qst-0)",
        "linkIds are not unique (que-2)",
        "item 'a': type 'bogus' is not an item-type code",
        "item 'a': answerOption on a integer item (que-5)",
        "item 'd': a display item has required/repeats (que-6)",
        "item 'd': a display item has nested items (que-1)",
        "item 'b': enableBehavior must be present iff there is more than one enableWhen (que-12)",
        "item 'b': enableWhen exists needs answerBoolean (que-7)",
        "item 'b': enableWhen operator '~' is not a code",
        "item 'b': enableWhen names unknown question 'zz'",
        "item 'c': enableBehavior must be present iff there is more than one enableWhen (que-12)",
        "item 'c': enableWhen on a string question uses answerInteger",
        "item 'g': a group has no items (que-1)",
    ]


def test_the_response_checker_finds_unknown_items_wrong_value_types_and_codes(imaging):
    q = to_questionnaire(imaging)
    broken = {
        "resourceType": "QuestionnaireResponse",
        "status": "done",
        "item": [
            {"linkId": "nope", "answer": [{"valueString": "x"}]},
            {"linkId": "symptom_weeks", "answer": [{"valueDecimal": 3.5}]},
            {"linkId": "body_region", "answer": [{"valueCoding": {"code": "knee"}}]},
            {
                "linkId": "contrast",
                "answer": [{"valueCoding": {"code": "with"}}, {"valueCoding": {"code": "without"}}],
            },
        ],
    }
    assert response_problems(q, broken) == [
        "status 'done' is not a questionnaire-answers-status code",
        "item 'nope' is not in the Questionnaire",
        "item 'symptom_weeks': ['valueDecimal'] for a integer item",
        "item 'body_region': code 'knee' is not an answerOption",
        "item 'contrast' has several answers but does not repeat",
    ]
    assert response_problems(q, {**broken, "status": "completed", "item": []})[:1] == [
        "completed, but required item 'body_region' has no answer"
    ]


# -- every shipped form ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=IDS)
def test_every_shipped_form_is_a_valid_r4_questionnaire(path):
    form = load_form_file(path)
    q = to_questionnaire(form)
    Questionnaire.model_validate(q)
    assert r4_problems(q) == []
    assert (q["resourceType"], q["id"], q["status"], q["version"]) == (
        "Questionnaire",
        form.id,
        "active",
        str(form.version),
    )
    assert [i["linkId"] for i in q["item"]] == [question.name for question in form.questions]
    assert json.loads(json.dumps(q)) == q  # plain JSON data


@pytest.mark.parametrize("path", SHIPPED, ids=IDS)
def test_valid_answers_give_a_completed_response_with_every_answer(path):
    form = load_form_file(path)
    q = to_questionnaire(form)
    answers = answers_of(form.id, "valid")
    r = to_response(form, answers)
    QuestionnaireResponse.model_validate(r)
    assert response_problems(q, r) == []
    assert r["status"] == "completed"
    assert r["questionnaire"] == f"{q['url']}|{q['version']}"
    assert [i["linkId"] for i in r["item"]] == [n.name for n in form.questions if n.name in answers]


@pytest.mark.parametrize("path", SHIPPED, ids=IDS)
def test_partial_answers_give_an_in_progress_response_without_hidden_answers(path):
    form = load_form_file(path)
    q = to_questionnaire(form)
    answers = answers_of(form.id, "partial")
    hidden = set(answers) - form.visible(answers)
    assert hidden  # every partial fixture answers a hidden question
    r = to_response(form, answers)
    QuestionnaireResponse.model_validate(r)
    assert response_problems(q, r) == []
    assert r["status"] == "in-progress"
    assert {i["linkId"] for i in r["item"]} == set(answers) - hidden


def test_an_empty_answer_set_gives_an_in_progress_response_without_items(imaging):
    r = to_response(imaging, {}, subject="Patient/123")
    QuestionnaireResponse.model_validate(r)
    assert r == {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "urn:priorauth:questionnaire:imaging-readiness|3",
        "status": "in-progress",
        "subject": {"reference": "Patient/123"},
    }


def test_an_answer_of_the_wrong_type_is_left_out_of_an_in_progress_response(imaging):
    r = to_response(imaging, {"symptom_weeks": "eight", "body_region": "knee", "red_flags": ["fever", "x"]})
    assert r["status"] == "in-progress"
    assert [(i["linkId"], [a["valueCoding"]["code"] for a in i["answer"]]) for i in r["item"]] == [
        ("red_flags", ["fever"])
    ]


# -- the exact mapping of the imaging form --------------------------------------------------------------
def _control(code: str) -> dict[str, Any]:
    return {
        "url": EXT + "questionnaire-itemControl",
        "valueCodeableConcept": {"coding": [{"system": ITEM_CONTROL, "code": code}]},
    }


def test_the_imaging_questionnaire_names_and_urls(imaging):
    q = to_questionnaire(imaging)
    assert (q["url"], q["name"], q["title"], q["subjectType"]) == (
        "urn:priorauth:questionnaire:imaging-readiness",
        "ImagingReadiness",
        "Advanced imaging readiness (MRI, CT, PET)",
        ["Patient"],
    )
    base = to_questionnaire(imaging, base="https://example.org/fhir/Questionnaire/")
    assert base["url"] == "https://example.org/fhir/Questionnaire/imaging-readiness"
    assert canonical_url(imaging, "urn:acme:q:") == "urn:acme:q:imaging-readiness"


def test_therapy_weeks_is_enabled_unless_none_was_ticked_with_its_bounds_and_help(imaging):
    assert item_of(to_questionnaire(imaging), "therapy_weeks") == {
        "linkId": "therapy_weeks",
        "text": "Weeks of conservative therapy",
        "type": "integer",
        "extension": [
            {"url": EXT + "minValue", "valueInteger": 0},
            {"url": EXT + "maxValue", "valueInteger": 520},
        ],
        "enableWhen": [
            {
                "question": "conservative_therapy",
                "operator": "!=",
                "answerCoding": {
                    "system": "urn:priorauth:form:imaging-readiness:conservative_therapy",
                    "code": "none",
                },
            }
        ],
        "item": [
            {
                "linkId": "therapy_weeks.help",
                "text": "Count only documented therapy (notes, prescriptions, therapy visits).",
                "type": "display",
                "extension": [_control("help")],
            }
        ],
    }


def test_red_flags_repeat_as_check_boxes_with_one_answer_option_per_choice(imaging):
    item = item_of(to_questionnaire(imaging), "red_flags")
    # required in the schema, but [] ("none") is a valid answer, which FHIR's `required` cannot carry
    assert (item["type"], item.get("required"), item["repeats"]) == ("choice", None, True)
    assert item["extension"] == [_control("check-box")]
    system = "urn:priorauth:form:imaging-readiness:red_flags"
    assert item["answerOption"][:2] == [
        {"valueCoding": {"system": system, "code": "cauda-equina", "display": "Cauda equina"}},
        {"valueCoding": {"system": system, "code": "progressive-deficit", "display": "Progressive deficit"}},
    ]
    assert len(item["answerOption"]) == len(imaging.fields["red_flags"].choices)


def test_labels_become_the_display_of_answer_options_and_textareas_become_text_items(imaging):
    q = to_questionnaire(imaging)
    region = item_of(q, "body_region")
    assert region["answerOption"][0]["valueCoding"]["display"] == "Head / brain"
    assert region["extension"] == [_control("radio-button")]
    question = item_of(q, "clinical_question")
    assert (question["type"], question["maxLength"]) == ("text", 2000)
    assert question["extension"] == [{"url": EXT + "minLength", "valueInteger": 10}]
    assert item_of(q, "prior_imaging_date") == {
        "linkId": "prior_imaging_date",
        "text": "Date of prior imaging",
        "type": "date",
        "enableWhen": [{"question": "prior_imaging", "operator": "=", "answerBoolean": True}],
    }


def test_a_multi_value_in_gives_one_enable_when_per_value_joined_by_any():
    sleep = load_form_file(ROOT / "forms" / "sleep-cpap-readiness.yaml")
    item = item_of(to_questionnaire(sleep), "cpap_failed")
    system = "urn:priorauth:form:sleep-cpap-readiness:device"
    assert item["enableWhen"] == [
        {
            "question": "device",
            "operator": "=",
            "answerCoding": {"system": system, "code": "bilevel-without-backup"},
        },
        {
            "question": "device",
            "operator": "=",
            "answerCoding": {"system": system, "code": "bilevel-with-backup"},
        },
    ]
    assert item["enableBehavior"] == "any"


def test_decimal_bounds_are_value_decimal_extensions():
    sleep = load_form_file(ROOT / "forms" / "sleep-cpap-readiness.yaml")
    assert item_of(to_questionnaire(sleep), "ahi")["extension"] == [
        {"url": EXT + "minValue", "valueDecimal": 0},
        {"url": EXT + "maxValue", "valueDecimal": 200},
    ]


SHOW_IF = """\
form: ops
version: 1
schema:
  type: object
  properties:
    weeks: {type: integer}
    score: {type: number}
    region: {type: string, enum: [spine, knee, hip]}
    therapy: {type: array, items: {enum: [pt, nsaids, none]}}
    seen_on: {type: string, format: date}
    note: {type: string}
    a: {type: string}
    b: {type: string}
    c: {type: string}
    d: {type: string}
    e: {type: string}
    f: {type: string}
ui:
  show_if:
    a: {weeks: {gte: 6, lt: 12}}
    b: {region: {not_in: [spine, knee]}}
    c: {therapy: {none_in: [pt, nsaids]}}
    d: {note: {exists: false}}
    e: {seen_on: {lte: '2026-01-31'}, score: {gt: 2.5}}
    f: {therapy: {contains: pt}, region: {in: [hip]}}
"""


def test_each_show_if_operator_becomes_an_r4_enable_when():
    form = load_form(SHOW_IF)
    q = to_questionnaire(form)
    assert r4_problems(q) == []
    Questionnaire.model_validate(q)
    when = {i["linkId"]: (i["enableWhen"], i.get("enableBehavior")) for i in q["item"] if "enableWhen" in i}
    coding = {
        "region": "urn:priorauth:form:ops:region",
        "therapy": "urn:priorauth:form:ops:therapy",
    }
    assert when == {
        "a": (
            [
                {"question": "weeks", "operator": ">=", "answerInteger": 6},
                {"question": "weeks", "operator": "<", "answerInteger": 12},
            ],
            "all",
        ),
        "b": (
            [
                {
                    "question": "region",
                    "operator": "!=",
                    "answerCoding": {"system": coding["region"], "code": "spine"},
                },
                {
                    "question": "region",
                    "operator": "!=",
                    "answerCoding": {"system": coding["region"], "code": "knee"},
                },
            ],
            "all",
        ),
        "c": (
            [
                {
                    "question": "therapy",
                    "operator": "!=",
                    "answerCoding": {"system": coding["therapy"], "code": "pt"},
                },
                {
                    "question": "therapy",
                    "operator": "!=",
                    "answerCoding": {"system": coding["therapy"], "code": "nsaids"},
                },
            ],
            "all",
        ),
        "d": ([{"question": "note", "operator": "exists", "answerBoolean": False}], None),
        "e": (
            [
                {"question": "seen_on", "operator": "<=", "answerDate": "2026-01-31"},
                {"question": "score", "operator": ">", "answerDecimal": 2.5},
            ],
            "all",
        ),
        "f": (
            [
                {
                    "question": "therapy",
                    "operator": "=",
                    "answerCoding": {"system": coding["therapy"], "code": "pt"},
                },
                {
                    "question": "region",
                    "operator": "=",
                    "answerCoding": {"system": coding["region"], "code": "hip"},
                },
            ],
            "all",
        ),
    }


# -- what the export gets wrong --------------------------------------------------------------------------
def test_a_form_id_starting_with_a_digit_still_gives_a_valid_name():
    form = load_form("form: 3d-imaging\nschema: {type: object, properties: {a: {type: integer}}}\n")
    assert r4_problems(to_questionnaire(form)) == []


def test_a_form_id_longer_than_a_fhir_id_is_refused_at_load():
    with pytest.raises(LoadError, match="at most 64 characters"):
        load_form(f"form: {'a' * 65}\nschema: {{type: object, properties: {{a: {{type: integer}}}}}}\n")
    form = load_form(f"form: {'a' * 64}\nschema: {{type: object, properties: {{a: {{type: integer}}}}}}\n")
    assert r4_problems(to_questionnaire(form)) == []


def test_an_exclusive_minimum_is_not_exported_as_an_inclusive_min_value():
    infusion = load_form_file(ROOT / "forms" / "infusion-readiness.yaml")
    extensions = item_of(to_questionnaire(infusion), "dose_mg").get("extension", [])
    assert {"url": EXT + "minValue", "valueDecimal": 0} not in extensions


@pytest.mark.parametrize(
    "answers",
    [{"prior_imaging": True, "prior_imaging_date": "2026-02-30"}, {"symptom_weeks": 2**40}],
)
def test_an_in_progress_response_with_a_mistyped_answer_is_still_valid_fhir(imaging, answers):
    QuestionnaireResponse.model_validate(to_response(imaging, answers))


def test_a_completed_response_answers_every_required_item(imaging):
    answers = {**answers_of("imaging-readiness", "valid"), "red_flags": []}
    assert imaging.errors(answers) == []
    q, r = to_questionnaire(imaging), to_response(imaging, answers)
    assert r["status"] == "completed"
    assert response_problems(q, r) == []
