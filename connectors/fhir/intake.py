"""A FHIR R4 Bundle made into case facts, with every problem and every element left unused.

    intake = bundle_to_facts(body, payer_ids={"ACME Health": "acme"})
    if intake.ok:        # no problem is an error
        make the case from intake.facts; show intake.problems (warnings) beside it

A bundle makes one case: one Patient, the Coverage, the requests (ServiceRequest, MedicationRequest,
DeviceRequest) whose CPT/HCPCS codes are the service, the Conditions that are its diagnoses, the
DocumentReferences on file and the practitioners and organizations the requests name. docs/intake.md
has the mapping table, element by element.

Each resource is validated with the fhir.resources R4B models, the nearest to R4 the library ships
(R4 and R4B agree on every resource read here). The models accept any code, so codes, dates, NPIs
and ICD-10-CM codes are checked here. A problem names a path, never a value from the bundle: a
patient's name or a note must not reach a log through an error message.

The patient's name is taken (`patient.name`, "Family, Given"): the payer's request form asks for it
and a faxed reply may be matched by it. It is not in the engine's fact schema, so rules never see it.
The patient's identifiers, address (except its state), telecom, contacts and photo are never taken.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from engine.facts import MAX_NUMBER, is_iso
from engine.rulesets import SLUG

MAX_BYTES = 10 * 1024 * 1024
MAX_ENTRIES = 1_000
MAX_NAME = 200  # characters of patient.name: a payer's form has one line for it
BUNDLE_TYPES = ("collection", "transaction", "document", "batch")

CPT = "http://www.ama-assn.org/go/cpt"
# terminology.hl7.org names HCPCS with http://; most senders (Da Vinci, CARIN) write https://
HCPCS = (
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
)
DRUG_SYSTEMS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "http://hl7.org/fhir/sid/ndc")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
SOPT = "https://nahdo.org/sopt"
PLACE_OF_SERVICE = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
# priorauth's own systems: a sender that knows priorauth's ids says so exactly, with no table
PAYER_SYSTEM = "urn:priorauth:payer"
PLAN_TYPE_SYSTEM = "urn:priorauth:plan-type"
DOCUMENT_TYPE_SYSTEM = "urn:priorauth:document-type"
# R4 attachments have no page count; R5 has one, carried into R4 by this cross-version extension
PAGES_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Attachment.pages"

SEX = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
PRIORITY = {"routine": "standard", "urgent": "expedited", "asap": "expedited", "stat": "emergency"}
URGENCY_RANK = {"standard": 0, "expedited": 1, "emergency": 2}
ELIGIBILITY = {"active": "active", "cancelled": "inactive", "entered-in-error": "inactive"}
USABLE_REQUEST = ("active", "draft", "on-hold")

#: LOINC document codes -> priorauth document types (the types the shipped rulesets ask for).
DOCUMENT_TYPES = {
    "34117-2": "clinical-note",  # History and physical note
    "11506-3": "clinical-note",  # Progress note (a clinician's visit note)
    "18842-5": "clinical-note",  # Discharge summary
    "28570-0": "clinical-note",  # Procedure note
    "34133-9": "clinical-note",  # Summarization of episode note
    "11488-4": "consult-note",  # Consult note
    "11508-9": "progress-note",  # Physical therapy progress note (therapy progress notes are counted)
    "11507-1": "progress-note",  # Occupational therapy progress note
    "11512-1": "progress-note",  # Speech-language pathology progress note
    "18776-5": "plan-of-care",  # Plan of care note
    "18748-4": "imaging-report",  # Diagnostic imaging study
    "11502-2": "lab",  # Laboratory report
    "11526-1": "pathology-report",  # Pathology study
    "28633-6": "sleep-study",  # Polysomnography (sleep) study
    "57133-1": "referral",  # Referral note
}

#: Source of Payment Typology codes -> plan types, by the longest prefix that has an entry.
#: None: the typology does not say which plan type it is (dual plans, Medicare supplements).
SOPT_PLAN_TYPES: dict[str, str | None] = {
    "1": "medicare",
    "11": "medicare-advantage",
    "14": None,
    "2": "medicaid",
    "5": "commercial",
    "522": "employer-group",  # self-insured (ERISA) plans are the employer's own
    "523": None,
    "6": "commercial",
    "7": "commercial",
}

# USPS codes of the states, DC, the territories and the military "states"
_USPS = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
    "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI AA AE AP"
)
US_STATES = frozenset(_USPS.split())

_CPT = re.compile(r"\d{5}|\d{4}[FTU]")
_HCPCS = re.compile(r"[A-V]\d{4}")
_ICD10CM = re.compile(r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")

Severity = Literal["error", "warning"]
Path = tuple[str | int, ...]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class IntakeProblem:
    """One problem: where in the bundle (a FHIR path), what, and whether the case can still be made."""

    path: str
    message: str
    severity: Severity

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Intake:
    """The case facts a bundle makes (empty when any problem is an error) and every problem found."""

    facts: dict[str, Any]
    problems: list[IntakeProblem]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


# -- code checks (the worklist reads the same codes) ------------------------------------------------
def valid_npi(text: str) -> bool:
    """Whether `text` is an NPI: 10 digits whose last is the Luhn check digit of 80840 + the first 9."""
    if len(text) != 10 or not text.isdigit() or not text.isascii():
        return False
    total = 0
    # the NPI standard prefixes 80840 (the US health-industry issuer) before taking the Luhn sum
    for position, char in enumerate(reversed("80840" + text[:9])):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10 == int(text[9])


def billing_code(text: str) -> str | None:
    """A CPT or HCPCS Level II code in its canonical form (upper case), or None when it is not one."""
    code = text.strip().upper()
    return code if _CPT.fullmatch(code) or _HCPCS.fullmatch(code) else None


def icd10cm(text: str) -> str | None:
    """An ICD-10-CM code with its dot (`M5416` -> `M54.16`), or None when it is not one."""
    code = text.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code if _ICD10CM.fullmatch(code) else None


def slug(text: str) -> str:
    """A priorauth id made from a name (`ACME Health` -> `acme-health`); empty when nothing is left."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")


# -- the bundle's entries ---------------------------------------------------------------------------
class _Entry:
    """One resource of the bundle and the paths of it that were used (or reported)."""

    __slots__ = ("full_url", "id", "index", "resource", "taken", "type", "used")

    def __init__(self, index: int, resource: Json, full_url: str | None) -> None:
        self.index = index
        self.resource = resource
        self.type: str = resource["resourceType"]
        rid = resource.get("id")
        self.id: str | None = rid if isinstance(rid, str) else None
        self.full_url = full_url
        # bookkeeping elements carry no case fact and are never reported
        self.used: set[Path] = {("resourceType",), ("id",), ("meta",), ("text",)}
        self.taken = False  # whether the case used this resource at all

    def path(self, where: Path = ()) -> str:
        out = f"Bundle.entry[{self.index}].resource({self.type})"
        for part in where:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out

    def get(self, *where: str | int) -> Any:
        node: Any = self.resource
        for part in where:
            if isinstance(part, int):
                node = node[part] if isinstance(node, list) and part < len(node) else None
            else:
                node = node.get(part) if isinstance(node, dict) else None
        return node

    def items(self, *where: str | int) -> list[tuple[int, Any]]:
        node = self.get(*where)
        return list(enumerate(node)) if isinstance(node, list) else []

    def text(self, *where: str | int) -> str | None:
        value = self.get(*where)
        return (value.strip() or None) if isinstance(value, str) else None

    def use(self, *where: str | int) -> None:
        self.taken = True
        self.used.add(where)

    def unused(self) -> Iterator[Path]:
        partial = {path[:n] for path in self.used for n in range(len(path))}
        yield from _unused(self.resource, (), self.used, partial)


def _unused(node: Any, path: Path, used: set[Path], partial: set[Path]) -> Iterator[Path]:
    """The highest paths under `path` that hold nothing used: one report per unused subtree."""
    if path in used:
        return
    if path not in partial:
        yield path
        return
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _unused(child, (*path, key), used, partial)


class _Report:
    """Problems in the order a person reads a bundle: the bundle's own first, then entry by entry."""

    def __init__(self) -> None:
        self._items: list[tuple[int, int, IntakeProblem]] = []

    def add(
        self, severity: Severity, where: _Entry | str, element: Path, message: str, rank: int = -1
    ) -> None:
        """Report at an entry's element, or at a path of its own (`rank`: the entry index it belongs to)."""
        if isinstance(where, _Entry):
            where.used.add(element)  # reported: the unused-element sweep must not report it again
            rank, path = where.index, where.path(element)
        else:
            path = where
        self._items.append((rank, len(self._items), IntakeProblem(path, message, severity)))

    def error(self, where: _Entry | str, element: Path, message: str, rank: int = -1) -> None:
        self.add("error", where, element, message, rank)

    def warning(self, where: _Entry | str, element: Path, message: str) -> None:
        self.add("warning", where, element, message)

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for _, _, p in self._items)

    def problems(self) -> list[IntakeProblem]:
        return [p for _, _, p in sorted(self._items, key=lambda item: item[:2])]


# -- reading and validating -------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> Json:
    out: Json = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read(data: bytes | str | Mapping[str, Any], report: _Report) -> Json | None:
    """The bundle as JSON objects, or None (reported) when it is too large or not JSON."""
    if isinstance(data, Mapping):
        return dict(data)
    if len(data) > MAX_BYTES or (isinstance(data, str) and len(data.encode("utf-8", "replace")) > MAX_BYTES):
        report.error(
            "(input)",
            (),
            f"the bundle is larger than {MAX_BYTES // (1024 * 1024)} MiB: send one case per bundle",
        )
        return None
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")  # FHIR JSON is UTF-8; a byte-order mark is tolerated
        except UnicodeDecodeError:
            report.error("(input)", (), "the bundle is not UTF-8 text: FHIR JSON must be encoded in UTF-8")
            return None
    try:
        parsed = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        report.error("(input)", (), f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")
        return None
    except ValueError as exc:  # a duplicate key, NaN or Infinity
        report.error("(input)", (), f"not valid JSON ({exc})")
        return None
    except RecursionError:
        report.error("(input)", (), "not valid JSON: nested too deeply")
        return None
    if not isinstance(parsed, dict):
        report.error(
            "(input)", (), "not a FHIR resource: the JSON must be an object with resourceType Bundle"
        )
        return None
    return parsed


def _fhir_path(base: str, loc: tuple[str | int, ...]) -> str:
    for part in loc[:-1] if loc[-1:] == ("root",) else loc:  # "root": the element itself
        base += f"[{part}]" if isinstance(part, int) else f".{part}"
    return base


_FORMATS = {
    "Date": "a FHIR date: write YYYY-MM-DD (or YYYY-MM, YYYY)",
    "DateTime": "a FHIR dateTime: write YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with a time zone",
    "Instant": "a FHIR instant: write YYYY-MM-DDThh:mm:ss with a time zone",
    "Decimal": "a number",
}
_SPEC_REGEX = re.compile(r"Value error, (\w+) value string does not match spec regex\.")


def _why(error: Mapping[str, Any]) -> str:
    """Pydantic's reason in plain words; its messages name fields and types, never the input."""
    kind, message = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return "not an element FHIR R4 defines here: check its spelling or move it into an extension"
    if kind in ("missing", "model_field_validation.missing"):
        return "required by FHIR R4 and missing"
    if kind == "model_validation_format":
        return "not what FHIR R4 expects here (a JSON object of the element's type)"
    matched = _SPEC_REGEX.fullmatch(message)
    if matched:
        return "not " + _FORMATS.get(matched[1], f"a valid FHIR {matched[1][0].lower()}{matched[1][1:]}")
    return "not valid FHIR R4: " + message.removeprefix("Value error, ")


def _validate(resource: Json, base: str, report: _Report, rank: int = -1) -> bool:
    """Validate one resource with its R4B model; report each error at its path."""
    kind = resource.get("resourceType")
    model: Any = None
    if isinstance(kind, str) and kind not in ("Resource", "DomainResource"):
        try:
            model = get_fhir_model_class(kind)
        except ValueError:
            model = None
    if model is None or not issubclass(model, Resource):
        report.error(base, (), "not a FHIR R4 resource: resourceType names no resource", rank)
        return False
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            report.error(_fhir_path(base, error["loc"]), (), _why(error), rank)
        return False
    return True


def _entries(bundle: Json, report: _Report) -> tuple[list[_Entry], Counter[str]] | None:
    """The bundle's valid resources and how many of each type it holds (valid or not); None: no bundle."""
    if bundle.get("resourceType") != "Bundle":
        report.error("(input)", (), "not a FHIR Bundle: resourceType must be Bundle")
        return None
    raw = bundle.get("entry")
    entries = raw if isinstance(raw, list) else []
    if len(entries) > MAX_ENTRIES:
        report.error("Bundle.entry", (), f"more than {MAX_ENTRIES:,} entries: send one case per bundle")
        return None
    if bundle.get("type") not in BUNDLE_TYPES:
        report.error("Bundle.type", (), "must be one of " + ", ".join(BUNDLE_TYPES))
    # the envelope first, without the resources: each resource is then validated on its own, so
    # that one bad resource is reported at its path and the others are still read
    shell = {**bundle, "entry": [_without_resource(e) for e in raw]} if isinstance(raw, list) else bundle
    if not _validate(shell, "Bundle", report):
        return None
    out: list[_Entry] = []
    kinds: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        base = f"Bundle.entry[{index}].resource"
        if resource is None:
            report.add("warning", f"Bundle.entry[{index}]", (), "has no resource: skipped", index)
            continue
        if not isinstance(resource, dict):
            report.error(base, (), "not a FHIR resource: must be a JSON object", index)
            continue
        kind = resource.get("resourceType")
        if isinstance(kind, str):
            kinds[kind] += 1
            base = f"{base}({kind})"
        if _validate(resource, base, report, index):
            full_url = entry.get("fullUrl")
            out.append(_Entry(index, resource, full_url if isinstance(full_url, str) else None))
    return out, kinds


def _without_resource(entry: Any) -> Any:
    return {k: v for k, v in entry.items() if k != "resource"} if isinstance(entry, dict) else entry


# -- the mapping ------------------------------------------------------------------------------------
REQUESTS = ("ServiceRequest", "MedicationRequest", "DeviceRequest")
PROVIDERS = ("Practitioner", "PractitionerRole", "Organization")
READ = ("Patient", "Coverage", *REQUESTS, "Medication", "Condition", "DocumentReference", *PROVIDERS)
# elements of a Patient that identify or locate a person: they never become facts (the name does,
# as patient.name, for the payer's request form and for matching faxed replies)
PERSONAL = ("telecom", "address", "photo", "contact", "identifier")


@dataclass(slots=True)
class _Service:
    """What the requests say, merged: the first request that states a thing gives it."""

    codes: list[str]
    units: tuple[int | float, str] | None = None  # the value and the path it came from
    date: str | None = None
    urgency: str | None = None
    place_of_service: str | None = None


class _Mapper:
    """Builds the case facts from the valid entries, reporting as it reads."""

    def __init__(
        self,
        entries: list[_Entry],
        report: _Report,
        payer_ids: Mapping[str, str],
        document_types: Mapping[str, str],
    ) -> None:
        self.entries = entries
        self.report = report
        self.payer_ids = {_key(k): v for k, v in payer_ids.items()}
        self.document_types = {_key(k): v for k, v in document_types.items()}
        self.index: dict[str, _Entry] = {}
        for entry in entries:
            if entry.full_url:
                self.index.setdefault(entry.full_url, entry)
            if entry.id:
                self.index.setdefault(f"{entry.type}/{entry.id}", entry)
        self.patient: _Entry | None = None
        self.conditions_read: set[int] = set()
        self.diagnoses: list[str] = []
        self.providers: dict[str, Json] = {}

    def of_type(self, *kinds: str) -> list[_Entry]:
        return [e for e in self.entries if e.type in kinds]

    # references ---------------------------------------------------------------------------------
    def resolve(self, reference: str) -> _Entry | None:
        ref = reference.split("/_history/")[0]
        hit = self.index.get(ref)
        if hit is None and "/" in ref:  # an absolute URL on another base than the fullUrls
            hit = self.index.get("/".join(ref.rstrip("/").split("/")[-2:]))
        return hit

    def follow(self, entry: _Entry, where: Path, *kinds: str) -> _Entry | None:
        """The resource the Reference at `where` points to, when it is in the bundle and of `kinds`."""
        reference = entry.text(*where, "reference")
        if reference is None:
            return None  # an identifier- or display-only reference is left to the unused sweep
        if reference.startswith("#"):
            self.report.warning(
                entry, where, "refers to a contained resource, which is not read: put it in the bundle"
            )
            return None
        target = self.resolve(reference)
        if target is None:
            self.report.warning(entry, where, "refers to a resource that is not in the bundle: not used")
            return None
        if target.type not in kinds:
            self.report.warning(
                entry, where, f"refers to {_a(target.type)}: only {' or '.join(kinds)} is read here"
            )
            return None
        entry.use(*where)
        return target

    def about_patient(self, entry: _Entry, where: Path) -> None:
        """Check that a subject or beneficiary is the bundle's Patient."""
        if entry.get(*where) is None:
            return
        if self.patient is None:  # the Patient was invalid, which is an error already
            entry.use(*where)
            return
        target = self.follow(entry, where, "Patient")
        if target is not None and target is not self.patient:
            self.report.warning(entry, where, "refers to another Patient than the bundle's")

    # patient ------------------------------------------------------------------------------------
    def patient_facts(self, patient: _Entry) -> Json:
        self.patient = patient
        patient.taken = True
        out: Json = {}
        if patient.id:
            out["id"] = patient.id
        else:
            self.report.warning(
                patient, ("id",), "the Patient has no id: patient.id is left for the app to assign"
            )
        name = self.patient_name(patient)
        if name is not None:
            out["name"] = name
        birth = patient.text("birthDate")
        if birth is not None:
            patient.use("birthDate")
            if is_iso(birth):
                out["birth_date"] = birth
            else:
                self.report.warning(
                    patient, ("birthDate",), "a partial birth date (year or month only) is not used"
                )
        gender = patient.text("gender")
        if gender is not None:
            patient.use("gender")
            if gender in SEX:
                out["sex"] = SEX[gender]
            else:
                self.report.warning(
                    patient,
                    ("gender",),
                    "not an administrative gender (male, female, other, unknown): dropped",
                )
        state = patient.text("address", 0, "state")
        if state is not None:
            patient.use("address", 0, "state")
            if state.upper() in US_STATES:
                out["state"] = state.upper()
            else:
                self.report.warning(
                    patient, ("address", 0, "state"), "not a two-letter US state code: dropped"
                )
        return out

    def patient_name(self, patient: _Entry) -> str | None:
        """`Patient.name` as "Family, Given Given" (prefix and suffix left out), else its `text`.

        Of the current names (not `use: old`, no `period.end` before today), the `official` one,
        else the `usual` one, else the first. None, with a warning, when there is no current name or
        the chosen one holds no text, family or given name, or is longer than MAX_NAME.
        """
        names = [k for k, item in patient.items("name") if isinstance(item, dict)]
        if not names:
            return None
        patient.use("name")  # the other names are alternatives to the one chosen: none is unmapped
        today = date.today().isoformat()
        current = [
            k for k in names if patient.get("name", k, "use") != "old" and not _ended(patient, k, today)
        ]
        if not current:
            self.report.warning(
                patient,
                ("name",),
                "no current name (every name is old or has ended): patient.name is left out",
            )
            return None
        uses = [patient.get("name", k, "use") for k in current]
        k = next((current[uses.index(use)] for use in ("official", "usual") if use in uses), current[0])
        family = patient.text("name", k, "family") or ""
        given = " ".join(_strings(patient.get("name", k, "given")))
        written = ", ".join(part for part in (family, given) if part) or patient.text("name", k, "text")
        text = " ".join((written or "").split())  # no line breaks or runs of spaces on a form
        if not text:
            self.report.warning(
                patient, ("name", k), "the name has no text, family or given name: patient.name is left out"
            )
            return None
        if len(text) > MAX_NAME:
            self.report.warning(
                patient, ("name", k), f"longer than {MAX_NAME} characters: patient.name is left out"
            )
            return None
        return text

    # coverage -----------------------------------------------------------------------------------
    def coverage_facts(self, coverages: list[_Entry]) -> Json:
        def primary_first(c: _Entry) -> tuple[bool, int, int]:
            order = c.get("order")
            return (c.get("status") != "active", order if isinstance(order, int) else MAX_ENTRIES, c.index)

        chosen, *others = sorted(coverages, key=primary_first)
        for other in others:
            self.report.warning(
                other,
                (),
                f"not used: the case is made from one coverage, the active one first in order ({chosen.path()})",
            )
        chosen.use("status")
        if others:
            chosen.use("order")
        self.about_patient(chosen, ("beneficiary",))
        out: Json = {"eligibility": ELIGIBILITY.get(chosen.text("status") or "", "unknown")}
        if chosen.text("subscriberId"):
            chosen.use("subscriberId")
            out["member_id"] = chosen.text("subscriberId")
        else:
            for k, _ in chosen.items("identifier"):
                if chosen.text("identifier", k, "value"):
                    chosen.use("identifier", k)
                    out["member_id"] = chosen.text("identifier", k, "value")
                    break
        for k, item in chosen.items("class"):
            kind = _code_in(item.get("type"), COVERAGE_CLASS) if isinstance(item, dict) else None
            value = chosen.text("class", k, "value")
            if kind == "group" and value and "group" not in out:
                chosen.use("class", k)
                out["group"] = value
            elif kind == "plan" and "product" not in out and (chosen.text("class", k, "name") or value):
                chosen.use("class", k)
                out["product"] = chosen.text("class", k, "name") or value
        plan_type = self.plan_type(chosen)
        if plan_type:
            out["plan_type"] = plan_type
        payer = self.payer(chosen)
        if payer:
            out["payer"] = payer
        return out

    def plan_type(self, coverage: _Entry) -> str | None:
        if coverage.get("type") is None:
            return None
        coverage.use("type")
        for k, _ in coverage.items("type", "coding"):
            system, code = (
                coverage.get("type", "coding", k, "system"),
                coverage.text("type", "coding", k, "code"),
            )
            if code is None:
                continue
            if system == PLAN_TYPE_SYSTEM and SLUG.fullmatch(code):
                return code
            if system == SOPT:
                prefix = next(
                    (code[:n] for n in range(len(code), 0, -1) if code[:n] in SOPT_PLAN_TYPES), None
                )
                if prefix is not None and SOPT_PLAN_TYPES[prefix]:
                    return SOPT_PLAN_TYPES[prefix]
        self.report.warning(
            coverage,
            ("type",),
            f"not a plan type priorauth knows (codes from {SOPT} or {PLAN_TYPE_SYSTEM}): coverage.plan_type is left empty",
        )
        return None

    def payer(self, coverage: _Entry) -> str | None:
        """payor[0] as a priorauth payer id: the payer table, a urn:priorauth:payer identifier, else the name."""
        where: Path = ("payor", 0)
        coverage.use(*where)
        reference = coverage.text(*where, "reference")
        org = self.resolve(reference) if reference and not reference.startswith("#") else None
        if org is not None and org.type != "Organization":
            self.report.error(
                coverage, where, "the payer is not an Organization: priorauth needs the payer organization"
            )
            return None
        candidates: list[tuple[Path, Any]]
        name_at: Path
        if org is not None:
            org.taken = True
            holder, name_at = org, ("name",)
            candidates = [(("identifier", k), i) for k, i in org.items("identifier") if isinstance(i, dict)]
        else:  # not in the bundle: the reference's own identifier and display are all there is
            holder, name_at = coverage, (*where, "display")
            logical = coverage.get(*where, "identifier")
            candidates = [((*where, "identifier"), logical)] if isinstance(logical, dict) else []
        for at, identifier in candidates:
            system, value = identifier.get("system"), identifier.get("value")
            for key in (f"{system}|{value}", f"{value}") if isinstance(value, str) else ():
                if _key(key) in self.payer_ids:
                    holder.use(*at)
                    return self.payer_ids[_key(key)]
        name = holder.text(*name_at)
        if name is not None and _key(name) in self.payer_ids:
            holder.use(*name_at)
            return self.payer_ids[_key(name)]
        for at, identifier in candidates:
            value = identifier.get("value")
            if identifier.get("system") == PAYER_SYSTEM and isinstance(value, str) and SLUG.fullmatch(value):
                holder.use(*at)
                return value
        if name is not None and slug(name):
            self.report.warning(
                holder,
                name_at,
                "the payer id was made from the organization's name: when no ruleset has that payer id, "
                "add the organization to the payer table",
            )
            return slug(name)
        self.report.error(
            coverage,
            where,
            "the payer cannot be identified: give the payer Organization a name, an identifier in the payer "
            f"table or a {PAYER_SYSTEM} identifier",
        )
        return None

    # codes --------------------------------------------------------------------------------------
    def billing_codes(self, entry: _Entry, where: Path) -> list[str]:
        """The CPT/HCPCS codes of the CodeableConcept at `where`; every other coding reported."""
        codes: list[str] = []
        drugs: list[int] = []
        others: list[int] = []
        for k, _ in entry.items(*where, "coding"):
            system, text = entry.get(*where, "coding", k, "system"), entry.text(*where, "coding", k, "code")
            if system == CPT or system in HCPCS:
                code = billing_code(text or "")
                if code is None:
                    self.report.warning(
                        entry,
                        (*where, "coding", k),
                        "not a valid CPT or HCPCS code (CPT: 5 digits, or 4 digits and F, T or U; "
                        "HCPCS: a letter A-V and 4 digits): dropped",
                    )
                elif code not in codes:
                    codes.append(code)
            else:
                (drugs if system in DRUG_SYSTEMS else others).append(k)
        if not codes:
            for k in drugs:
                self.report.warning(
                    entry,
                    (*where, "coding", k),
                    "an RxNorm or NDC code names a drug, not a billing code: add the drug's HCPCS code (a J-code)",
                )
            for k in others:
                self.report.warning(
                    entry,
                    (*where, "coding", k),
                    f"not a CPT or HCPCS code: service codes come from {CPT} or {HCPCS[0]}",
                )
            if not entry.items(*where, "coding"):
                self.report.warning(
                    entry, where, "has no coding: service codes come from CPT or HCPCS codings"
                )
        entry.use(*where)  # a concept's codings translate one another: taking one takes the concept
        return codes

    def diagnosis_codes(self, entry: _Entry, where: Path) -> None:
        """Add the ICD-10-CM codes of the CodeableConcept at `where` to the diagnoses."""
        seen = False
        for k, _ in entry.items(*where, "coding"):
            if entry.get(*where, "coding", k, "system") != ICD10CM:
                continue
            seen = True
            code = icd10cm(entry.text(*where, "coding", k, "code") or "")
            if code is None:
                self.report.warning(entry, (*where, "coding", k), "not a valid ICD-10-CM code: dropped")
            elif code not in self.diagnoses:
                self.diagnoses.append(code)
        if not seen:
            self.report.warning(entry, where, f"no ICD-10-CM code ({ICD10CM}): not taken as a diagnosis")
        entry.use(*where)

    def condition(self, condition: _Entry) -> None:
        if condition.index in self.conditions_read:
            return
        self.conditions_read.add(condition.index)
        condition.use("clinicalStatus")
        condition.use("verificationStatus")
        if _code_in(condition.get("verificationStatus"), None) in ("refuted", "entered-in-error"):
            self.report.warning(condition, (), "not used: the condition is refuted or entered in error")
            return
        self.about_patient(condition, ("subject",))
        if condition.get("code") is None:
            self.report.warning(condition, ("code",), "the condition has no code: not taken as a diagnosis")
            return
        self.diagnosis_codes(condition, ("code",))

    # requests -----------------------------------------------------------------------------------
    def requests(self, requests: list[_Entry]) -> _Service:
        service = _Service(codes=[])
        for request in requests:
            request.use("status")
            request.use("intent")  # order, plan or proposal: all are asked about the same way
            if request.text("status") not in USABLE_REQUEST:
                self.report.warning(
                    request, (), "not used: only active, draft or on-hold requests make the case"
                )
                continue
            self.about_patient(request, ("subject",))
            for code in self.request_codes(request):
                if code not in service.codes:
                    service.codes.append(code)
            self.units(request, service)
            self.service_date(request, service)
            self.urgency(request, service)
            for k, _ in request.items("reasonCode"):
                self.diagnosis_codes(request, ("reasonCode", k))
            for k, _ in request.items("reasonReference"):
                condition = self.follow(request, ("reasonReference", k), "Condition")
                if condition is not None:
                    self.condition(condition)
            self.request_providers(request)
            for k, _ in request.items("locationCode"):
                place = _code_in(request.get("locationCode", k), PLACE_OF_SERVICE)
                if place and place.isdigit() and len(place) == 2 and service.place_of_service is None:
                    request.use("locationCode", k)
                    service.place_of_service = place
            for k, _ in request.items("insurance"):
                self.follow(request, ("insurance", k), "Coverage")
            for k, _ in request.items("supportingInfo"):
                info = self.follow(request, ("supportingInfo", k), "DocumentReference", "Condition")
                if info is not None and info.type == "Condition":
                    self.condition(info)
        return service

    def request_codes(self, request: _Entry) -> list[str]:
        if request.type == "ServiceRequest":
            return self.billing_codes(request, ("code",)) if request.get("code") is not None else []
        if request.type == "DeviceRequest":
            if request.get("codeReference") is not None:
                self.report.warning(
                    request,
                    ("codeReference",),
                    "a Device reference is not read: give the request a codeCodeableConcept",
                )
            return self.billing_codes(request, ("codeCodeableConcept",))
        if request.get("medicationCodeableConcept") is not None:
            return self.billing_codes(request, ("medicationCodeableConcept",))
        medication = self.follow(request, ("medicationReference",), "Medication")
        if medication is None or medication.get("code") is None:
            return []
        medication.taken = True
        return self.billing_codes(medication, ("code",))

    def units(self, request: _Entry, service: _Service) -> None:
        where: Path = {
            "ServiceRequest": ("quantityQuantity", "value"),
            "MedicationRequest": ("dispenseRequest", "quantity", "value"),
        }.get(request.type, ())
        if not where or request.get(*where) is None:
            return
        value = _number(request.get(*where))
        if value is None:
            self.report.warning(request, where, "not a positive number: dropped")
        elif service.units is None:
            request.use(*where)
            service.units = (value, request.path(where))
        elif value != service.units[0]:
            self.report.warning(
                request, where, f"not used: the case has one units value, from {service.units[1]}"
            )
        else:
            request.use(*where)

    def service_date(self, request: _Entry, service: _Service) -> None:
        if request.type == "MedicationRequest":
            choices: tuple[Path, ...] = (("dispenseRequest", "validityPeriod", "start"),)
        else:
            choices = (("occurrenceDateTime",), ("occurrencePeriod", "start"))
        for where in choices:
            text = request.text(*where)
            if text is None:
                continue
            day = _day(text)
            if day is None:
                self.report.warning(request, where, "a partial date (year or month only) is not used")
                continue
            request.use(*where)
            # the earliest date of service selects the ruleset version the whole case is read by
            if service.date is None or day < service.date:
                service.date = day

    def urgency(self, request: _Entry, service: _Service) -> None:
        priority = request.text("priority")
        if priority is None:
            return
        if priority not in PRIORITY:
            self.report.warning(
                request, ("priority",), "not a request priority (routine, urgent, asap, stat): dropped"
            )
            return
        request.use("priority")
        urgency = PRIORITY[priority]
        if service.urgency is None or URGENCY_RANK[urgency] > URGENCY_RANK[service.urgency]:
            service.urgency = urgency

    def request_providers(self, request: _Entry) -> None:
        requester = self.follow(request, ("requester",), *PROVIDERS)
        if requester is not None:
            self.take_provider("ordering", request, ("requester",), requester)
        performers: list[Path] = (
            [("performer", k) for k, _ in request.items("performer")]
            if request.type == "ServiceRequest"
            else [("performer",)]
        )
        for where in performers:
            performer = self.follow(request, where, *PROVIDERS) if request.get(*where) is not None else None
            if performer is None:
                continue
            # an organization that performs the service is where it happens; a person renders it,
            # at the organization their role is with
            role = "facility" if performer.type == "Organization" else "rendering"
            self.take_provider(role, request, where, performer)
            if performer.type == "PractitionerRole" and performer.get("organization") is not None:
                site = self.follow(performer, ("organization",), "Organization")
                if site is not None and "facility" not in self.providers:
                    self.take_provider("facility", performer, ("organization",), site)

    def take_provider(self, role: str, request: _Entry, where: Path, target: _Entry) -> None:
        found = self.provider(target)
        if role not in self.providers:
            if found:
                self.providers[role] = found
        elif found != self.providers[role]:
            self.report.warning(
                request, where, f"not used: the case has one {role} provider, from an earlier request"
            )

    def provider(self, target: _Entry) -> Json:
        """npi and name of a Practitioner, PractitionerRole (through its practitioner) or Organization."""
        target.taken = True
        out: Json = {}
        if target.type == "PractitionerRole":
            person = self.follow(target, ("practitioner",), "Practitioner")
            if person is not None:
                out = self.provider(person)
        if "npi" not in out:
            npi = self.npi(target)
            if npi:
                out["npi"] = npi
        if "name" not in out:
            name = self.name(target)
            if name:
                out["name"] = name
        return out

    def npi(self, target: _Entry) -> str | None:
        for k, _ in target.items("identifier"):
            if target.get("identifier", k, "system") != NPI:
                continue
            value = target.text("identifier", k, "value")
            if value is not None and valid_npi(value):
                target.use("identifier", k)
                return value
            self.report.warning(
                target,
                ("identifier", k),
                "not a valid NPI (10 digits ending in the right check digit): dropped",
            )
        return None

    def name(self, target: _Entry) -> str | None:
        if target.type == "Organization":
            if target.text("name"):
                target.use("name")
            return target.text("name")
        if target.type != "Practitioner" or not isinstance(target.get("name", 0), dict):
            return None
        text = target.text("name", 0, "text")
        if text is None:  # "Dr. Dana Lee", "Rene Castillo, PT"
            given = [*_strings(target.get("name", 0, "prefix")), *_strings(target.get("name", 0, "given"))]
            text = " ".join([*given, target.text("name", 0, "family") or ""]).strip()
            text = ", ".join([text, *_strings(target.get("name", 0, "suffix"))]) if text else None
        if text:
            target.use("name", 0)
        return text

    # documents ----------------------------------------------------------------------------------
    def document(self, document: _Entry) -> Json | None:
        document.use("status")
        if document.text("status") != "current":
            self.report.warning(
                document, (), "not used: only current documents are on file (superseded or in error)"
            )
            return None
        document.taken = True
        self.about_patient(document, ("subject",))
        out: Json = {"id": document.id or f"entry-{document.index}", "type": self.document_type(document)}
        # the clinical date (the period the document covers) before the date the reference was made
        for where in (("context", "period", "start"), ("date",)):
            text = document.text(*where)
            if text is not None and "date" not in out:
                day = _day(text)
                if day is None:
                    self.report.warning(document, where, "a partial date (year or month only) is not used")
                else:
                    document.use(*where)
                    out["date"] = day
        title = document.text("content", 0, "attachment", "title")
        if title:
            out["title"] = title
        for k, _ in document.items("content", 0, "attachment", "extension"):
            if document.get("content", 0, "attachment", "extension", k, "url") == PAGES_EXTENSION:
                pages = document.get("content", 0, "attachment", "extension", k, "valuePositiveInt")
                if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0:
                    out["pages"] = pages
        # the attachments themselves are stored by the app with the case's documents, not copied into facts
        for k, _ in document.items("content"):
            document.use("content", k)
        return out

    def document_type(self, document: _Entry) -> str:
        for k, _ in document.items("type", "coding"):
            system = document.get("type", "coding", k, "system")
            code = document.text("type", "coding", k, "code")
            if code is None:
                continue
            kind = self.document_types.get(_key(f"{system}|{code}"))
            if kind is None and system == DOCUMENT_TYPE_SYSTEM and SLUG.fullmatch(code):
                kind = code
            if kind is None and system == LOINC:
                kind = DOCUMENT_TYPES.get(code)
            if kind is not None:
                document.use("type")
                return kind
        self.report.warning(
            document,
            ("type",),
            "no document type priorauth knows (docs/intake.md lists the LOINC codes read): kept as type 'other'",
        )
        return "other"

    # what was not used --------------------------------------------------------------------------
    def sweep(self) -> None:
        """Report every resource and element the case did not use."""
        for entry in self.entries:
            if () in entry.used:
                continue  # reported as a whole already
            if not entry.taken:
                self.report.warning(entry, (), _unused_resource(entry.type))
                continue
            for path in list(entry.unused()):
                self.report.warning(entry, path, _unused_element(entry.type, path))


def _unused_resource(kind: str) -> str:
    if kind in PROVIDERS:
        return "not used: not the payer, requester or performer of a request"
    if kind == "Medication":
        return "not used: no MedicationRequest refers to it"
    return "not used: priorauth reads " + ", ".join(READ[:-1]) + " and " + READ[-1]


def _unused_element(kind: str, path: Path) -> str:
    if "modifierExtension" in path:
        return "a modifier extension changes what its element means and is not understood: check the case by hand"
    if "extension" in path:
        return "not used: extensions are not read"
    if kind == "Patient" and path[0] in PERSONAL:
        return "not copied: a patient's identifiers, address and contact details never go into case facts"
    return "not used: no case fact takes this element"


def _a(noun: str) -> str:
    return ("an " if noun[0] in "AEIOU" else "a ") + noun


def _strings(value: Any) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def _key(text: str) -> str:
    """A table key: case and runs of spaces do not matter."""
    return " ".join(text.split()).casefold()


def _code_in(concept: Any, system: str | None) -> str | None:
    """The first code of a CodeableConcept from `system` (from any system when None)."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and (system is None or coding.get("system") == system):
            return code.strip()
    return None


def _ended(entry: _Entry, k: int, today: str) -> bool:
    """Whether the name at `name[k]` has a period that ended before `today` (compared at the end's
    own precision: an end of "2026" has not passed until 2027)."""
    end = entry.text("name", k, "period", "end")
    return end is not None and end[:10] < today[: len(end[:10])]


def _day(text: str) -> str | None:
    """The YYYY-MM-DD of a FHIR date or dateTime (the day where it was written), None when partial."""
    if len(text) < 10 or not is_iso(text[:10]) or (len(text) > 10 and text[10] != "T"):
        return None
    return text[:10]


def _number(value: Any) -> int | float | None:
    """A positive quantity (FHIR decimals may arrive as text), None when it is not one."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_NUMBER:
        return None
    return int(value) if float(value).is_integer() else float(value)


# -- the front door ---------------------------------------------------------------------------------
def bundle_to_facts(
    data: bytes | str | Mapping[str, Any],
    *,
    payer_ids: Mapping[str, str] | None = None,
    document_types: Mapping[str, str] | None = None,
) -> Intake:
    """The case facts a FHIR R4 Bundle makes, and every problem found (docs/intake.md).

    `payer_ids` maps a payer Organization's identifier (`system|value` or the value) or name to a
    priorauth payer id; `document_types` maps a `system|code` document type to a priorauth document
    type, before the built-in LOINC table. Case and spacing of their keys do not matter.
    Returns facts (empty when any problem is an error) and problems; raises ValueError when a table
    maps to something that is not a priorauth id (a lowercase slug).
    """
    for table, what in ((payer_ids, "payer_ids"), (document_types, "document_types")):
        for key, value in (table or {}).items():
            if not isinstance(value, str) or not SLUG.fullmatch(value):
                raise ValueError(f"{what}: the entry for '{key}' must map to a lowercase slug (a-z, 0-9, -)")
    report = _Report()
    bundle = _read(data, report)
    found = _entries(bundle, report) if bundle is not None else None
    if found is None:
        return Intake({}, report.problems())
    entries, kinds = found
    for kind, what in (
        ("Patient", "the patient the case is for"),
        ("Coverage", "the patient's coverage (the payer)"),
    ):
        if kinds[kind] == 0:
            report.error("Bundle", (), f"no {kind}: a bundle must hold {what}")
    if kinds["Patient"] > 1:
        report.error("Bundle", (), "more than one Patient: a bundle makes one case for one patient")
    if not any(kinds[kind] for kind in REQUESTS):
        report.error(
            "Bundle",
            (),
            "no ServiceRequest, MedicationRequest or DeviceRequest: a bundle must hold the service requested",
        )

    mapper = _Mapper(entries, report, payer_ids or {}, document_types or {})
    patients = mapper.of_type("Patient")
    facts: Json = {"patient": mapper.patient_facts(patients[0])} if len(patients) == 1 else {}
    coverages = mapper.of_type("Coverage")
    if coverages:
        facts["coverage"] = mapper.coverage_facts(coverages)
    requests = mapper.of_type(*REQUESTS)
    service = mapper.requests(requests)
    if requests and not service.codes:
        report.error(
            "Bundle",
            (),
            "no CPT or HCPCS code in any usable request: the case needs the service's billing codes",
        )
    for condition in mapper.of_type("Condition"):
        mapper.condition(condition)
    documents = [d for d in map(mapper.document, mapper.of_type("DocumentReference")) if d is not None]
    mapper.sweep()
    if report.failed:
        return Intake({}, report.problems())

    if service.urgency:
        facts["urgency"] = service.urgency
    facts["service"] = {"codes": service.codes}
    if service.units:
        facts["service"]["units"] = service.units[0]
    if service.place_of_service:
        facts["service"]["place_of_service"] = service.place_of_service
    if service.date:
        facts["service"]["date"] = service.date
    # the bundle holds every diagnosis and document there is: none is a fact ("none on file"), not a gap
    facts["diagnoses"] = mapper.diagnoses
    if mapper.providers:
        facts["providers"] = mapper.providers
    facts["documents"] = documents
    return Intake(facts, report.problems())
