"""The shipped request forms on paper: every example case, rendered on the template its payer's
ruleset chooses, shows who the member is, what is asked for and why; and every template a
shipped ruleset names is in forms/packets and loads."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from connectors.pdf.packet import render_packet
from connectors.pdf.templates import load_template
from engine import Evaluator, load_forms
from engine.catalog import load_rulesets
from engine.packets import Sender, plan_packet

ROOT = Path(__file__).resolve().parents[2]
PACKETS = ROOT / "forms" / "packets"
NAME = "Rivera, Sam"
PRACTICE = {"name": "Lakeside Orthopedics", "fax": "+16145550199", "phone": "+16145550100"}
#: headings of the parts that follow the request form (connectors/pdf/layout/packet.html)
AFTER_REQUEST = ("Readiness form answers", "What the payer requires, and where it is")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


def _shipped():
    forms, problems = load_forms([ROOT / "forms"])
    assert not problems
    rulesets, problems = load_rulesets([ROOT / "rulesets"], forms)
    assert not problems
    return forms, rulesets, Evaluator(rulesets, forms, backend="compiled")


FORMS, RULESETS, EVALUATOR = _shipped()


def _facts(path: Path) -> dict:
    facts = json.loads(path.read_text())
    facts["patient"]["name"] = NAME
    return facts


def _examples() -> list:
    """(case file, decision, ruleset) for every example case a shipped ruleset decides."""
    out = []
    for path in sorted((ROOT / "examples" / "cases").glob("*.json")):
        facts = _facts(path)
        decision = EVALUATOR.evaluate(facts, date.fromisoformat(facts["as_of"]))
        chosen = decision.get("ruleset") or {}
        for ruleset in RULESETS:
            if (ruleset.id, ruleset.version) == (chosen.get("id"), chosen.get("version")):
                out.append(
                    pytest.param(path, decision, ruleset, id=f"{path.stem}:{ruleset.id}-v{ruleset.version}")
                )
    return out


def _request_text(pdf: bytes, tmp_path: Path) -> str:
    """The request form's pages as one line of text: after the cover, before the answers."""
    path = tmp_path / "packet.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    pages = out.stdout.split("\f")[1:]
    end = next((n for n, page in enumerate(pages) if any(h in page for h in AFTER_REQUEST)), len(pages))
    return " ".join(" ".join(pages[:end]).split())


@needs_poppler
@pytest.mark.parametrize(("path", "decision", "ruleset"), _examples())
def test_the_request_form_shows_the_member_the_service_and_the_diagnoses(path, decision, ruleset, tmp_path):
    facts = _facts(path)
    payer_name = ruleset.title.split(",")[0]
    today = date.fromisoformat(facts["as_of"])
    packet = plan_packet(
        reference="PA-7KQ2M9XD",
        facts=facts,
        decision=decision,
        ruleset=ruleset,
        documents=[],
        answers=facts.get("answers", {}),
        forms=FORMS,
        sender=Sender(PRACTICE["name"], PRACTICE["fax"], PRACTICE["phone"]),
        payer_name=payer_name,
        today=today,
        final=False,
    )
    assert packet.template != "standard-request", "every shipped ruleset names its payer's own form"
    template = load_template((PACKETS / f"{packet.template}.yaml").read_bytes(), f"{packet.template}.yaml")
    payer = {"id": ruleset.payer, "name": payer_name, "fax": decision.get("fax")}
    rendered = render_packet(packet, template, {}, payer=payer, practice=PRACTICE)
    assert rendered.refused == ()
    text = _request_text(rendered.pdf, tmp_path)
    birth = date.fromisoformat(facts["patient"]["birth_date"]).strftime("%m/%d/%Y")
    expected = [facts["coverage"]["member_id"], NAME, birth, payer_name]
    expected += facts["service"]["codes"] + facts.get("diagnoses", [])
    assert [value for value in expected if value not in text] == []


def test_every_template_a_shipped_ruleset_names_is_in_forms_packets_and_loads():
    named: dict[str, set[str]] = {}
    for ruleset in RULESETS:
        where = f"{ruleset.id} v{ruleset.version}"
        if ruleset.packet.template:
            named.setdefault(ruleset.packet.template, set()).add(f"{where} packet.template")
        for rule in ruleset.rules:
            if rule.packet:
                named.setdefault(rule.packet, set()).add(f"{where} rule {rule.id}")
    assert named, "the shipped rulesets name no packet template"
    for template_id, by in sorted(named.items()):
        path = PACKETS / f"{template_id}.yaml"
        assert path.is_file(), f"{template_id}, named by {sorted(by)}, is not in forms/packets"
        assert load_template(path.read_bytes(), path.name).id == template_id
