"""The reference workload of `make bench`: payer rulesets and cases, generated from a seed.

Everything here is deterministic for a given seed. `build_workload()` returns:

- 25 ruleset documents (9 payers x up to 3 lines of business; each case selects exactly one):
  ~40 rules each mixing `any_in` value sets on `service.codes`, `none_in` on `diagnoses`, numeric
  clinical comparisons, `documents: {some: ..., within_days}`, urgency equality, `final`, priorities,
  `require` items, `any` / `not`; and ~10 value sets each (codes, `A-B` ranges, `X*` prefixes),
  about 22,000 explicit codes in all;
- the same documents as YAML text, which is what the benchmark loads with `engine.load_ruleset`;
- the cases: plain JSON-shaped dicts (dates as ISO strings), as a case file would parse to.

The documents are kept as data (`RulesetSpec.doc`) so that the anchors (zen-engine, naive
durable-rules) can be translated from exactly what the engine loads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import yaml

AS_OF = date(2026, 11, 20)  # every case is evaluated as of this date (it carries `as_of`)
EFFECTIVE_FROM = "2026-01-01"
SEED = 20261120

PAYERS = ("acme", "bluelake", "cedar", "dover", "elmwood", "fairway", "granite", "harbor", "ironwood")
# line of business -> (ruleset id suffix, the plan types its scope admits)
LINES = {
    "commercial": ("commercial", ("commercial", "employer-group")),
    "medicare": ("medicare-advantage", ("medicare-advantage",)),
    "medicaid": ("medicaid", ("medicaid", "chip")),
}
N_RULESETS = 25

CLINICAL_FACTS = {
    "clinical.conservative_therapy_weeks": "integer",
    "clinical.bmi": "number",
    "clinical.ahi": "number",
    "clinical.epworth_score": "integer",
    "clinical.hba1c": "number",
    "clinical.pain_score": "integer",
    "clinical.symptom_weeks": "integer",
    "clinical.red_flags": "[string]",
    "clinical.prior_surgery": "boolean",
    "clinical.new_start": "boolean",
}
RED_FLAGS = ("cauda-equina", "fever", "weight-loss", "trauma", "cancer-history", "none-reported")
DOC_TYPES = (
    "order",
    "clinical-note",
    "imaging-report",
    "letter-of-medical-necessity",
    "surgical-consult",
    "pre-op-clearance",
    "op-note",
    "genetic-counseling",
    "lab-result",
)
SITES = ("office", "hospital-outpatient", "asc", "home", "inpatient")
PLACES = ("11", "12", "19", "21", "22", "24")
SLEEP_CODES = ("95800", "95801", "95805", "95806", "95807", "95808", "95810", "95811")
PAP_CODES = ("E0601", "E0470", "E0471")

ITEMS: dict[str, Any] = {
    "order": {"label": "Signed order", "satisfied_by": {"documents": {"some": {"type": "order"}}}},
    "recent-note": {
        "label": "Clinical note from the last 60 days",
        "satisfied_by": {"documents": {"some": {"type": "clinical-note", "date": {"within_days": 60}}}},
    },
    "lmn": {
        "label": "Letter of medical necessity",
        "satisfied_by": {"documents": {"some": {"type": "letter-of-medical-necessity"}}},
    },
    "op-consult": {
        "label": "Surgical consultation in the last 90 days",
        "satisfied_by": {"documents": {"some": {"type": "surgical-consult", "date": {"within_days": 90}}}},
    },
    "pre-op-clearance": {
        "label": "Pre-operative clearance in the last 30 days",
        "satisfied_by": {"documents": {"some": {"type": "pre-op-clearance", "date": {"within_days": 30}}}},
    },
    "op-note": {
        "label": "Prior operative note",
        "satisfied_by": {"documents": {"some": {"type": "op-note"}}},
    },
    "genetic-counseling": {
        "label": "Genetic counseling",
        "satisfied_by": {"documents": {"some": {"type": "genetic-counseling"}}},
    },
    "conservative-therapy": {
        "label": "Six weeks of conservative therapy",
        "satisfied_by": {"clinical.conservative_therapy_weeks": {"gte": 6}},
    },
    "weight-management": {"label": "Supervised weight management program"},
    "step-therapy": {"label": "Step therapy with a preferred drug"},
}


@dataclass
class RulesetSpec:
    """One generated ruleset: the document (data), its YAML text and how cases reach it."""

    id: str
    payer: str
    plan_types: tuple[str, ...]
    doc: dict[str, Any]
    text: str
    # value set name -> (explicit codes, [(prefix, width, low, high)], [prefixes]) for case generation
    pools: dict[str, tuple[list[str], list[tuple[str, int, int, int]], list[str]]] = field(
        default_factory=dict
    )


@dataclass
class Workload:
    seed: int
    rulesets: list[RulesetSpec]
    cases: list[dict[str, Any]]
    as_of: date = AS_OF

    def stats(self) -> dict[str, Any]:
        entries = codes = ranges = prefixes = covered = 0
        for spec in self.rulesets:
            for entries_list in spec.doc["valuesets"].values():
                for entry in entries_list:
                    entries += 1
                    if entry.endswith("*"):
                        prefixes += 1
                        covered += 1
                    elif "-" in entry:
                        ranges += 1
                        low, high = entry.split("-")
                        width = int("".join(c for c in high if c.isdigit())) - int(
                            "".join(c for c in low if c.isdigit())
                        )
                        covered += width + 1
                    else:
                        codes += 1
                        covered += 1
        return {
            "rulesets": len(self.rulesets),
            "rules": sum(len(s.doc["rules"]) for s in self.rulesets),
            "rules_per_ruleset": round(
                sum(len(s.doc["rules"]) for s in self.rulesets) / len(self.rulesets), 1
            ),
            "valuesets": sum(len(s.doc["valuesets"]) for s in self.rulesets),
            "valueset_entries": entries,
            "explicit_codes": codes,
            "ranges": ranges,
            "prefixes": prefixes,
            "codes_covered": covered,  # explicit codes + every code inside a range + 1 per prefix
            "cases": len(self.cases),
        }


# -- codes ---------------------------------------------------------------------------------------
def _cpt(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high):05d}"


def _hcpcs(rng: random.Random, letters: str) -> str:
    return f"{rng.choice(letters)}{rng.randint(100, 9999):04d}"


def _icd(rng: random.Random, letters: str) -> str:
    tail = str(rng.randint(0, 9)) if rng.random() < 0.4 else f"{rng.randint(0, 99):02d}"
    return f"{rng.choice(letters)}{rng.randint(0, 99):02d}.{tail}"


def _distinct(rng: random.Random, n: int, make: Any) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < n:
        out[make(rng)] = None
    return list(out)


def _numeric_ranges(
    rng: random.Random, n: int, prefix: str, low: int, high: int, width: tuple[int, int]
) -> list[tuple[str, int, int, int]]:
    out = []
    digits = 5 - len(prefix)
    for _ in range(n):
        w = rng.randint(*width)
        start = rng.randint(low, high - w)
        out.append((prefix, digits, start, start + w))
    return out


def _range_text(r: tuple[str, int, int, int]) -> str:
    prefix, digits, low, high = r
    return f"{prefix}{low:0{digits}d}-{prefix}{high:0{digits}d}"


def _valuesets(
    rng: random.Random,
) -> dict[str, tuple[list[str], list[tuple[str, int, int, int]], list[str]]]:
    """name -> (codes, ranges, prefixes): ~900 explicit codes per ruleset."""
    dme_letter = rng.choice("EKL")
    return {
        "pa_imaging": (
            _distinct(rng, 180, lambda r: _cpt(r, 70010, 79999)),
            _numeric_ranges(rng, 4, "", 70010, 79999, (5, 20)),
            [],
        ),
        "pa_surgery": (
            _distinct(rng, 220, lambda r: _cpt(r, 10021, 69990)),
            _numeric_ranges(rng, 3, "", 10021, 69990, (5, 20)),
            [],
        ),
        "pa_dme": (
            [*PAP_CODES, *_distinct(rng, 117, lambda r: _hcpcs(r, "EKL"))],
            _numeric_ranges(rng, 3, dme_letter, 100, 9999, (10, 40)),
            [],
        ),
        "pa_drugs": (
            _distinct(rng, 90, lambda r: _hcpcs(r, "J")),
            _numeric_ranges(rng, 1, "J", 100, 9999, (5, 30)),
            [],
        ),
        "pa_genetic": (
            _distinct(rng, 60, lambda r: _cpt(r, 81105, 81479)),
            _numeric_ranges(rng, 1, "", 81105, 81479, (5, 15)),
            [],
        ),
        "sleep_testing": (rng.sample(SLEEP_CODES, 6), [], []),
        "red_flag_dx": (
            _distinct(rng, 60, lambda r: _icd(r, "CGMS")),
            [],
            [f"{c[:5]}" for c in _distinct(rng, 4, lambda r: _icd(r, "GMS"))],
        ),
        "oncology_dx": (
            _distinct(rng, 80, lambda r: _icd(r, "C")),
            [],
            sorted({f"C{rng.randint(0, 96):02d}." for _ in range(5)}),
        ),
        "exempt_dx": (_distinct(rng, 40, lambda r: _icd(r, "Z")), [], []),
        "high_risk_dx": (
            _distinct(rng, 40, lambda r: _icd(r, "EIN")),
            [],
            [f"{c[:4]}" for c in _distinct(rng, 2, lambda r: _icd(r, "EIN"))],
        ),
    }


# -- rules ---------------------------------------------------------------------------------------
def _rules(rng: random.Random, pools: dict[str, Any]) -> list[dict[str, Any]]:
    def codes_of(name: str, k: int) -> list[str]:
        return rng.sample(pools[name][0], k)

    ct = rng.randint(4, 8)
    bmi = rng.choice([35, 38, 40])
    a1c = rng.choice([8, 8.5, 9])
    eps = rng.choice([8, 10, 12])
    rules: list[dict[str, Any]] = [
        {
            "id": "emergency-exempt",
            "priority": 100,
            "when": {"urgency": "emergency"},
            "then": {"auth": "not-required", "final": True},
        },
        {
            "id": "imaging-gold-card",
            "priority": 60,
            "when": {"service.codes": {"any_in": "pa_imaging"}, "diagnoses": {"any_in": "exempt_dx"}},
            "then": {"auth": "not-required", "final": True, "notes": ["gold-carded diagnosis"]},
        },
        {
            "id": "expedited-routing",
            "priority": 50,
            "when": {"urgency": "expedited"},
            "then": {"urgency": "expedited", "queue": "expedited"},
        },
        {
            "id": "drugs-oncology",
            "priority": 20,
            "when": {"service.codes": {"any_in": "pa_drugs"}, "diagnoses": {"any_in": "oncology_dx"}},
            "then": {"auth": "required", "urgency": "expedited", "queue": "oncology"},
        },
        {
            "id": "imaging-red-flag",
            "priority": 10,
            "when": {"service.codes": {"any_in": "pa_imaging"}, "diagnoses": {"any_in": "red_flag_dx"}},
            "then": {"urgency": "expedited", "notes": ["red-flag diagnosis"]},
        },
        {
            "id": "oncology-queue",
            "priority": 10,
            "when": {"diagnoses": {"any_in": "oncology_dx"}},
            "then": {"queue": "oncology"},
        },
        {
            "id": "imaging-needs-auth",
            "when": {"service.codes": {"any_in": "pa_imaging"}},
            "then": {
                "auth": "required",
                "queue": "imaging",
                "forms": ["imaging-readiness"],
                "require": ["order", "recent-note"],
            },
        },
        {
            "id": "imaging-conservative-therapy",
            "when": {
                "all": [
                    {"service.codes": {"any_in": "pa_imaging"}},
                    {"diagnoses": {"none_in": "red_flag_dx"}},
                    {"clinical.conservative_therapy_weeks": {"lt": ct}},
                ]
            },
            "then": {"missing": ["conservative-therapy"]},
        },
        {
            "id": "imaging-recent-duplicate",
            "when": {
                "service.codes": {"any_in": "pa_imaging"},
                "documents": {
                    "some": {"type": "imaging-report", "date": {"within_days": rng.choice([30, 60, 90])}}
                },
            },
            "then": {"auth": "review", "notes": ["recent imaging on file"]},
        },
        {
            "id": "imaging-not-office",
            "when": {"service.codes": {"any_in": "pa_imaging"}, "not": {"service.site_of_care": "office"}},
            "then": {"notes": ["facility imaging"]},
        },
        {
            "id": "surgery-needs-auth",
            "when": {"service.codes": {"any_in": "pa_surgery"}},
            "then": {
                "auth": "required",
                "queue": "surgery",
                "require": ["order", "recent-note", "op-consult"],
            },
        },
        {
            "id": "surgery-bmi",
            "when": {"service.codes": {"any_in": "pa_surgery"}, "clinical.bmi": {"gte": bmi}},
            "then": {"missing": ["weight-management"]},
        },
        {
            "id": "surgery-hba1c",
            "when": {"service.codes": {"any_in": "pa_surgery"}, "clinical.hba1c": {"gt": a1c}},
            "then": {"missing": [{"id": "glycemic-control", "label": f"HbA1c at or below {a1c}"}]},
        },
        {
            "id": "surgery-facility",
            "when": {
                "service.codes": {"any_in": "pa_surgery"},
                "service.site_of_care": {"in": ["inpatient", "hospital-outpatient"]},
            },
            "then": {"queue": "site-of-care"},
        },
        {
            "id": "surgery-senior",
            "when": {"service.codes": {"any_in": "pa_surgery"}, "patient.age": {"gte": 65}},
            "then": {"require": ["pre-op-clearance"]},
        },
        {
            "id": "surgery-prior",
            "when": {"clinical.prior_surgery": True, "service.codes": {"any_in": "pa_surgery"}},
            "then": {"require": ["op-note"]},
        },
        {
            "id": "dme-needs-auth",
            "when": {"service.codes": {"any_in": "pa_dme"}},
            "then": {"auth": "required", "channel": "fax", "queue": "dme", "require": ["order"]},
        },
        {
            "id": "dme-rental-units",
            "when": {"service.codes": {"any_in": "pa_dme"}, "service.units": {"gt": rng.choice([2, 3])}},
            "then": {"auth": "review"},
        },
        {
            "id": "cpap-ahi",
            "when": {
                "service.codes": {"any_in": list(PAP_CODES)},
                "clinical.ahi": {"between": [5, 14.9]},
                "clinical.epworth_score": {"lte": 10},
            },
            "then": {"missing": [{"id": "osa-criteria", "label": "AHI 5-14 needs symptoms or comorbidity"}]},
        },
        {
            "id": "drugs-needs-auth",
            "when": {"service.codes": {"any_in": "pa_drugs"}},
            "then": {"auth": "required", "channel": "x12-278", "queue": "pharmacy", "require": ["lmn"]},
        },
        {
            "id": "drugs-new-start",
            "when": {"service.codes": {"any_in": "pa_drugs"}, "clinical.new_start": True},
            "then": {"missing": ["step-therapy"]},
        },
        {
            "id": "drugs-lmn-on-file",
            "when": {
                "service.codes": {"any_in": "pa_drugs"},
                "documents": {"some": {"type": "letter-of-medical-necessity"}},
            },
            "then": {"notes": ["LMN on file"]},
        },
        {
            "id": "genetic-needs-auth",
            "when": {"service.codes": {"any_in": "pa_genetic"}},
            "then": {"auth": "required", "queue": "genetics", "require": ["lmn", "genetic-counseling"]},
        },
        {
            "id": "sleep-study-sleepy",
            "when": {"service.codes": {"any_in": "sleep_testing"}, "clinical.epworth_score": {"gte": eps}},
            "then": {"auth": "not-required"},
        },
        {
            "id": "sleep-study-review",
            "when": {"service.codes": {"any_in": "sleep_testing"}, "clinical.epworth_score": {"lt": eps}},
            "then": {"auth": "review", "queue": "sleep"},
        },
        {
            "id": "acute-pain",
            "when": {"clinical.pain_score": {"gte": 8}, "clinical.symptom_weeks": {"lt": 2}},
            "then": {"notes": ["acute severe pain"]},
        },
        {
            "id": "red-flags-expedite",
            "when": {
                "any": [
                    {"clinical.red_flags": {"any_in": ["cauda-equina", "fever"]}},
                    {"diagnoses": {"any_in": "red_flag_dx"}},
                ]
            },
            "then": {"urgency": "expedited"},
        },
        {
            "id": "high-risk-senior",
            "when": {"diagnoses": {"any_in": "high_risk_dx"}, "patient.age": {"gte": 70}},
            "then": {"notes": ["high-risk senior"]},
        },
        {
            "id": "inpatient-units",
            "when": {"service.place_of_service": {"in": ["21", "22"]}, "service.units": {"gte": 3}},
            "then": {"queue": "utilization-review"},
        },
    ]
    # variants: code-specific rules (inline lists), dx-specific rules, ungated thresholds
    n = 0
    while len(rules) < 40:
        n += 1
        kind = rng.choice(["codes", "codes", "codes", "dx", "threshold", "combo"])
        if kind == "codes":
            vs = rng.choice(["pa_imaging", "pa_surgery", "pa_dme", "pa_drugs"])
            rule: dict[str, Any] = {
                "id": f"code-list-{n}",
                "when": {"service.codes": {"any_in": codes_of(vs, rng.randint(3, 8))}},
                "then": {"auth": rng.choice(["required", "review"]), "queue": f"{vs}-specialty"},
            }
            if rng.random() < 0.3:
                rule["priority"] = rng.choice([5, 15, 30])
        elif kind == "dx":
            rule = {
                "id": f"dx-list-{n}",
                "when": {
                    "service.codes": {"any_in": rng.choice(["pa_imaging", "pa_surgery", "pa_genetic"])},
                    "diagnoses": {"any_in": codes_of(rng.choice(["oncology_dx", "high_risk_dx"]), 4)},
                },
                "then": {"notes": [f"diagnosis-specific criteria {n}"], "require": ["lmn"]},
            }
        elif kind == "threshold":
            path = rng.choice(["clinical.bmi", "clinical.hba1c", "clinical.ahi", "clinical.pain_score"])
            low = {"clinical.bmi": 45, "clinical.hba1c": 10, "clinical.ahi": 30, "clinical.pain_score": 9}[
                path
            ]
            rule = {
                "id": f"threshold-{n}",
                "when": {path: {"gte": low}, "urgency": {"in": ["standard", "expedited"]}},
                "then": {"notes": [f"{path} at or above {low}"]},
            }
        else:
            rule = {
                "id": f"combo-{n}",
                "when": {
                    "any": [{"clinical.bmi": {"gte": 40}}, {"clinical.hba1c": {"gte": 9.5}}],
                    "service.codes": {"any_in": "pa_surgery"},
                    "diagnoses": {"none_in": "exempt_dx"},
                },
                "then": {"auth": "review", "notes": ["metabolic risk"]},
            }
        rules.append(rule)
    order = list(range(len(rules)))
    rng.shuffle(order)  # document order varies by payer; priorities still decide first
    return [rules[i] for i in order]


def _ruleset(index: int, payer: str, line: str, rng: random.Random) -> RulesetSpec:
    suffix, plan_types = LINES[line]
    rid = f"{payer}-{suffix}"
    pools = _valuesets(rng)
    valuesets = {
        name: [*codes, *(_range_text(r) for r in ranges), *(f"{p}*" for p in prefixes)]
        for name, (codes, ranges, prefixes) in pools.items()
    }
    scope: Any = (
        {"coverage.plan_type": {"in": list(plan_types)}}
        if len(plan_types) > 1
        else {"coverage.plan_type": plan_types[0]}
    )
    doc: dict[str, Any] = {
        "ruleset": rid,
        "title": f"{payer.title()} {suffix} (generated benchmark ruleset {index + 1})",
        "payer": payer,
        "version": 1,
        "effective": {"from": EFFECTIVE_FROM},
        "scope": scope,
        "facts": dict(CLINICAL_FACTS),
        "valuesets": valuesets,
        "items": ITEMS,
        "defaults": {
            "channel": "portal",
            "portal": f"{payer}-portal",
            "fax": "+15550100",
            "queue": "general",
        },
        "rules": _rules(rng, pools),
    }
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    return RulesetSpec(rid, payer, plan_types, doc, text, pools)


def build_rulesets(seed: int = SEED) -> list[RulesetSpec]:
    rng = random.Random(seed)
    combos = [(p, line) for p in PAYERS for line in LINES][:N_RULESETS]
    return [_ruleset(i, p, line, random.Random(rng.random())) for i, (p, line) in enumerate(combos)]


# -- cases ---------------------------------------------------------------------------------------
def _pick_code(rng: random.Random, pools: dict[str, Any], names: tuple[str, ...]) -> str:
    codes, ranges, prefixes = pools[rng.choice(names)]
    roll = rng.random()
    if ranges and roll < 0.2:
        prefix, digits, low, high = rng.choice(ranges)
        return f"{prefix}{rng.randint(low, high):0{digits}d}"
    if prefixes and roll < 0.35:
        return f"{rng.choice(prefixes)}{rng.randint(0, 9)}"
    return rng.choice(codes)


_SERVICE_SETS = (
    "pa_imaging",
    "pa_imaging",
    "pa_surgery",
    "pa_dme",
    "pa_drugs",
    "pa_genetic",
    "sleep_testing",
)
_DX_SETS = ("red_flag_dx", "oncology_dx", "exempt_dx", "high_risk_dx")


def _case(n: int, rng: random.Random, spec: RulesetSpec) -> dict[str, Any]:
    pools = spec.pools
    codes: list[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        roll = rng.random()
        if roll < 0.5:
            codes.append(_pick_code(rng, pools, _SERVICE_SETS))
        elif roll < 0.55:
            codes.append(rng.choice(PAP_CODES))
        elif roll < 0.8:
            codes.append(_cpt(rng, 10000, 99999))
        else:
            codes.append(_hcpcs(rng, "AEGJKL"))
    diagnoses = [
        _pick_code(rng, pools, _DX_SETS) if rng.random() < 0.25 else _icd(rng, "CEGIJKMNRSZ")
        for _ in range(rng.randint(1, 4))
    ]
    clinical: dict[str, Any] = {}
    for path, kind in CLINICAL_FACTS.items():
        if rng.random() < 0.2:
            continue  # a missing fact never matches a comparison
        name = path.split(".", 1)[1]
        if kind == "integer":
            clinical[name] = rng.randint(0, 24)
        elif kind == "number":
            clinical[name] = round(rng.uniform(3, 60), 1)
        elif kind == "boolean":
            clinical[name] = rng.random() < 0.4
        else:
            clinical[name] = rng.sample(RED_FLAGS, rng.randint(0, 2))
    documents = [
        {
            "id": f"D{i + 1}",
            "type": rng.choice(DOC_TYPES),
            "date": (AS_OF - timedelta(days=rng.randint(0, 400))).isoformat(),
        }
        for i in range(rng.randint(0, 4))
    ]
    birth = AS_OF - timedelta(days=rng.randint(2 * 365, 95 * 365))
    return {
        "case_id": f"C-{n:07d}",
        "as_of": AS_OF.isoformat(),
        "urgency": rng.choices(("standard", "expedited", "emergency"), (80, 15, 5))[0],
        "patient": {"id": f"P-{n}", "birth_date": birth.isoformat(), "sex": rng.choice("FM"), "state": "OH"},
        "coverage": {
            "payer": spec.payer,
            "plan_type": rng.choice(spec.plan_types),
            "product": rng.choice(("PPO", "HMO", "EPO")),
            "member_id": f"M{n}",
            "eligibility": "active",
        },
        "service": {
            "codes": codes,
            "units": rng.randint(1, 5),
            "place_of_service": rng.choice(PLACES),
            "site_of_care": rng.choice(SITES),
            "date": (AS_OF + timedelta(days=rng.randint(0, 30))).isoformat(),
        },
        "diagnoses": diagnoses,
        "documents": documents,
        "clinical": clinical,
    }


def build_cases(rulesets: list[RulesetSpec], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed + 1)
    return [_case(i, rng, rng.choice(rulesets)) for i in range(n)]


def build_workload(n_cases: int, seed: int = SEED) -> Workload:
    rulesets = build_rulesets(seed)
    return Workload(seed, rulesets, build_cases(rulesets, n_cases, seed))


def big_valueset_text(spec: RulesetSpec, size: int = 10_000, seed: int = SEED) -> str:
    """`spec`'s document with one more value set of `size` entries (codes, ranges, prefixes)."""
    rng = random.Random(seed + 2)
    n_ranges, n_prefixes = size // 100, size // 500
    entries = [
        *_distinct(rng, size - n_ranges - n_prefixes, lambda r: _icd(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        *(_range_text(r) for r in _numeric_ranges(rng, n_ranges, "", 10021, 99999, (5, 50))),
        *sorted({f"{_icd(rng, 'QRSTUV')[:5]}*" for _ in range(n_prefixes * 3)})[:n_prefixes],
    ]
    doc = dict(spec.doc)
    doc["valuesets"] = {**spec.doc["valuesets"], "payer_dx_list": entries}
    doc["rules"] = [
        *spec.doc["rules"],
        {
            "id": "payer-dx-list",
            "when": {"diagnoses": {"any_in": "payer_dx_list"}, "service.codes": {"any_in": "pa_surgery"}},
            "then": {"auth": "review", "notes": ["payer diagnosis list"]},
        },
    ]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
