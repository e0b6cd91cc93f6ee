"""A payer's faxed reply, as text (from `connectors.fax.ocr`), read into a suggestion.

    reply = read_reply(text)    # Reply(references=("PA-7KQ2M9XD",), decision="approved", ...)

A coordinator is *offered* "this looks like an approval of case PA-7KQ2M9XD" and confirms it, so
the reader prefers saying nothing to guessing: `decision` is None when the letter does not say or
says both, and `evidence` holds the line behind each finding.

Labelled values ("Member ID: ...") come from one table of labels, matched as tesseract writes them:
any case, a/e/o/0 and i/l/1/| mixed up, spaces dropped or doubled, a colon, a lookalike (";", "!")
or none, the value on the next line. A one-word label ("Status", "Member", "Reason") counts only
with a colon, at the start of a line or after a column gap: the same words are common in prose.
A labelled decision ("Decision:", "Status:", "Outcome:", ...) wins over words elsewhere, which
decide only when they all agree. Words in a conditional or appeal clause ("if approved", "you may
appeal ... if denied") are boilerplate; a negation makes an approval word a denial ("not medically
necessary") and cancels the others ("this is not a denial"); "partially approved" absorbs the
approvals and denials a partial approval lists. Two-digit years are 20yy, except in a birth date,
where a year after this year's two digits (26 in 2026) is 19yy: nobody is born in the future.

The work is bounded: text beyond MAX_TEXT characters is ignored, and every pattern is linear
(tests/engine/test_faxreply.py holds them to engine.regexsafe's check and to hostile texts).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

MAX_TEXT = 200_000
DECISIONS = ("approved", "partially-approved", "denied", "pended")
_PARTIAL = "partially-approved"


@dataclass(frozen=True, slots=True)
class Reply:
    """What a faxed reply seems to say; every field is a suggestion for a person to confirm."""

    references: tuple[str, ...]  # our case references, "PA-XXXXXXXX", first seen first
    payer_references: tuple[str, ...]  # the payer's own request/reference/case/tracking numbers
    member_ids: tuple[str, ...]
    names: tuple[str, ...]  # as written: "DOE, JANE" or "Jane Doe"
    birth_dates: tuple[str, ...]  # ISO YYYY-MM-DD
    auth_number: str | None
    decision: str | None  # one of DECISIONS; None when not said, or said both ways
    approved_units: int | None
    approved_from: str | None  # ISO
    approved_to: str | None
    denial_reason: str | None  # first line after "Reason:" on a (partial) denial, <= 300 chars
    evidence: tuple[tuple[str, str], ...]  # (what was found, its line, <= 160 chars)


def _ocr(pattern: str) -> str:
    """A regex `pattern` made to match its letters and spaces as OCR writes them (see _ocr_char)."""
    return "".join(_ocr_char(char) if char in " aeoil" else char for char in pattern)


def _ocr_char(char: str) -> str:
    """One character of a label or phrase as a pattern for what OCR writes for it (IGNORECASE)."""
    if char == " ":
        return " *"  # "Member ID", "MemberID", "Member  ID"
    # tesseract mixes up a, e and o ("Mamber", "Date af birth", "Referance"), o and 0, i, l, 1 and |
    return "[aeo0]" if char in "aeo" else "[il1|]" if char in "il" else re.escape(char)


def _key(label: str) -> str:
    """The label as _ocr reads it, undone: what two spellings of one label have in common."""
    return label.lower().replace(" ", "").translate(_SAME)


_SAME = str.maketrans("ae0l1|", "oooiii")


def _trie(words: list[str]) -> str:
    """One pattern for many labels, shaped as a trie: each step tries only the labels that share the
    text so far, so a scan costs a few steps per character instead of one per label."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any], last: str) -> str:
        branches = [_ocr_char(char) + emit(child, char) for char, child in node.items() if char]
        if "" in node:  # the label may end here; tried last, so "member id" wins over "member"
            branches.append(r"(?![a-z0-9])" if last.isalnum() else "")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(root, "")


# (kind, label, strong): the kind is the Reply field the value goes to, or "decision" or "dates".
# A strong label is distinctive enough to count anywhere without a colon.
_NUM = ("number", "no", "#", "id", "nbr")
_LABELS: list[tuple[str, str, bool]] = [
    *[("decision", w, True) for w in ("review outcome", "review decision", "review determination")],
    *[("decision", w, True) for w in ("request status", "authorization status", "decision status")],
    *[("decision", w, False) for w in ("determination", "decision", "status", "outcome")],
    *[("auth_number", f"{w} {n}", True) for w in ("authorization", "auth", "certification", "cert") for n in _NUM],
    *[("auth_number", f"approval {n}", True) for n in _NUM],
    *[("payer_references", f"{w} {n}", True) for w in ("reference", "ref", "request", "case", "tracking") for n in _NUM],
    ("payer_references", "reference", False),
    *[("member_ids", f"{w} {n}", True) for w in ("member", "subscriber") for n in _NUM if n != "nbr"],
    ("member_ids", "id #", True),
    *[("names", w, True) for w in ("patient name", "member name", "subscriber name")],
    *[("names", w, False) for w in ("patient", "member")],
    *[("birth_dates", w, True) for w in ("date of birth", "birth date", "dob", "d.o.b.")],
    *[("approved_units", f"{a} {b}", True) for a in ("approved", "authorized") for b in ("units", "visits")],
    *[("approved_units", f"{b} {a}", True) for a in ("approved", "authorized") for b in ("units", "visits")],
    *[("dates", f"{w} {d}", True) for w in ("approved", "authorized", "valid", "effective") for d in ("dates", "from")],
    *[("dates", f"{w} period", True) for w in ("authorization", "approval", "certification")],
    *[("dates", w, False) for w in ("valid", "effective")],
    *[("denial_reason", w, True) for w in ("denial reason", "reason for denial", "reason for decision", "reason for determination")],
    *[("denial_reason", w, False) for w in ("reason", "rationale")],
]  # fmt: skip
_KINDS = {_key(label): (kind, strong) for kind, label, strong in _LABELS}
# After a label, its separator: OCR writes a colon as ";", "!", "," or ".", and adds stray quotes.
_LABEL = re.compile(
    r"(?<![a-z0-9])(" + _trie([label for _, label, _ in _LABELS]) + r")( *(?:[#:=;!,.'`\"] *){0,2})", re.I
)
_COLONS = "#:=;!"  # a separator that makes a one-word label a label (not "," or ".", common in prose)
_REFERENCE = re.compile(
    r"(?<![a-z0-9])pa *[-_.]? *((?:[A-HJ-NP-Z2-9][ /.]?){7,8}[A-HJ-NP-Z2-9])(?![a-z0-9])", re.I
)
_LIKE_OURS = re.compile(r"pa *[-_.]? *(?:[a-z0-9][ /.]?){7,8}[a-z0-9](?![a-z0-9])", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z0-9]+(?:[-/.][a-z0-9]+)*", re.IGNORECASE)  # "AUT-55012", "4410/88"
# Two to five capitalised words; a word followed by a colon is the next field's label, not a name.
# (Two bounded repeats rather than one {1,4}: the same pattern, in a shape engine.regexsafe can
# prove linear.)
_WORD = r"[A-Z][A-Za-z'.-]{0,30}"
_MORE = rf"(?:(?: {{0,3}}, {{0,3}}| {{1,6}}){_WORD}(?![A-Za-z'.-]| *:))"
_NAME = re.compile(rf"{_WORD}{_MORE}{{1,2}}{_MORE}{{0,2}}")
_UNITS = re.compile(r"[0-9OoIl|]{1,4}(?![a-z0-9/])", re.IGNORECASE)
_UNITS_AFTER = re.compile(r"(?<![0-9])([0-9]{1,4}) +(?:units|visits|sessions) +(?:approved|authorized)", re.I)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_D = "[0-9OoIl|]"  # OCR writes 0 as O and 1 as l or I inside numbers
_MON = r"(?:" + "|".join(_MONTHS) + r")[a-z]{0,6}\.?"
_DATE = (
    rf"(?<![0-9])(?:(?P<y1>{_D}{{4}}) ?[-/.] ?(?P<m1>{_D}{{1,2}}) ?[-/.] ?(?P<d1>{_D}{{1,2}})"
    rf"|(?P<m2>{_D}{{1,2}}) ?[-/.] ?(?P<d2>{_D}{{1,2}}) ?[-/.] ?(?P<y2>{_D}{{4}}|{_D}{{2}})"
    rf"|(?P<mon3>{_MON}) *(?P<d3>{_D}{{1,2}})(?:st|nd|rd|th)?,? *(?P<y3>{_D}{{4}})"
    rf"|(?P<d4>{_D}{{1,2}})[ -]*(?P<mon4>{_MON})[ ,-]*(?P<y4>{_D}{{4}}))(?![0-9])"
)
_DATE_RE = re.compile(rf"(?:from )?{_DATE}", re.IGNORECASE)
_RANGE = re.compile(
    rf"(?:from )?(?P<a>{_DATE}) *(?:[.,;:'] *)?(?:(?:-|t[oe0]|through|thru|until) *)?(?P<b>{_DATE.replace('?P<', '?P<b_')})",
    re.I,
)
_NOISE = " .,;:'`\"*_~|-"  # specks OCR reads before a value: "Member ID: . XJH123"
_DIGITS = str.maketrans("OoIl|", "00111")
# page breaks and odd spaces become plain ones; typographic dashes and quotes, ASCII
_TEXT = str.maketrans("\t\r\f\v–—‘’“”", " \n\n\n--''\"\"")

# Decision phrases, most specific first (regex syntax; letters and spaces are made OCR-tolerant).
# "neutral" ones are consumed so that their words count for nothing.
_PHRASES = [
    ("neutral", r"not (?:be |been )?(?:a denial|denied)|fda-?approved|authorized (?:representative|signature|agent)"),
    ("denied", r"not (?:be |been )?(?:approved|authorized|certified|medically necessary)|adverse determination"),
    (_PARTIAL, r"partially (?:approved|authorized|certified)|partial approval|approved in part"),
    (_PARTIAL, r"approved with modifications?|modified"),
    ("pended", r"(?:additional|more|further) (?:clinical |medical )?(?:information|documentation|records) "
     r"(?:is |are )?(?:needed|required|requested)|(?:need|needs|require|requires) (?:additional|more|further)"),
    ("pended", r"request for (?:additional )?information|pended|pending|incomplete"),
    ("denied", r"denied|non-?certified"),
    ("approved", r"approved|certified|authorized|medically necessary"),
]  # fmt: skip
_PHRASE = re.compile(r"(?<![a-z])(?:" + "|".join(f"({_ocr(p)})" for _, p in _PHRASES) + r")(?![a-z])", re.I)
_CONDITIONAL = {"if", "when", "whether", "unless", "once", "should", "may", "might", "could", "would", "can"}
_NEGATION = {"not", "no", "never", "cannot", "unable", "isn't", "wasn't", "hasn't", "doesn't"}
_CLAUSE_END = re.compile(r"[.;:!?]")
_WINDOW = 200


def _fold(match: re.Match[str], line: str, stops: list[int]) -> str | None:
    """The decision a phrase stands for in its clause; None for boilerplate."""
    kind = _PHRASES[(match.lastindex or 1) - 1][0]
    # the clause around the phrase, at most _WINDOW characters each side (keeps the work linear)
    at = bisect.bisect_left(stops, match.start())
    start = max(stops[at - 1] + 1 if at else 0, match.start() - _WINDOW)
    end = min(stops[at] if at < len(stops) else len(line), match.end() + _WINDOW)
    before = line[start : match.start()].lower().split()
    if set(before) & _CONDITIONAL or "appeal" in line[start:end].lower():
        return None  # "if approved", "you may appeal ... if denied": what could happen, not what did
    if kind == "neutral" or not set(before[-4:]) & _NEGATION:
        return None if kind == "neutral" else kind
    return "denied" if kind == "approved" else None  # "was not found medically necessary"


def _code(found: str) -> str | None:
    """The 8 characters of a reference, upper case, from what the pattern found: 8 characters, or 9
    when one glyph was read twice in two cases ("PA-7KQ2M9xXD": a reference is printed in one case),
    or 8 and the start of the next word ("PA-7KQ2M9XD A"). OCR splits them with " ", "/" or "."."""
    chars = found.replace(" ", "").replace("/", "").replace(".", "")
    if len(chars) == 8:
        return chars.upper()
    pairs = [n for n in range(8) if chars[n] != chars[n + 1] and chars[n].upper() == chars[n + 1].upper()]
    if len(pairs) == 1:
        drop = pairs[0] + chars[pairs[0]].isupper()  # the odd one out is the one in lower case
        return (chars[:drop] + chars[drop + 1 :]).upper()
    return _code(found[:-2]) if found[-2] in " /." else None


def _stops(line: str) -> list[int]:
    return [m.start() for m in _CLAUSE_END.finditer(line)]


def _decide(found: set[str]) -> str | None:
    if len(found) == 1:
        return next(iter(found))
    return _PARTIAL if _PARTIAL in found and found <= {_PARTIAL, "approved", "denied"} else None


def _to_date(match: re.Match[str], prefix: str, birth: bool, today: date) -> str | None:
    """The ISO date of a _DATE match (its groups named with `prefix`); None for a day that is not."""
    # each branch of _DATE names its groups y1 m1 d1, m2 d2 y2, mon3 d3 y3, d4 mon4 y4
    got = {k[len(prefix) : -1]: v for k, v in match.groupdict().items() if v and k.startswith(prefix)}
    try:
        month = (
            _MONTHS.index(got["mon"][:3].lower()) + 1 if "mon" in got else int(got["m"].translate(_DIGITS))
        )
        day, year = int(got["d"].translate(_DIGITS)), got["y"].translate(_DIGITS)
        century = 0 if len(year) == 4 else 1900 if birth and int(year) > today.year % 100 else 2000
        found = date(century + int(year), month, day)
    except (KeyError, ValueError):  # 02/30/2026, month 13: OCR misread it, so it is not a date
        return None
    return None if birth and not date(1900, 1, 1) <= found <= today else found.isoformat()


def _clip(line: str, limit: int = 160) -> str:
    return " ".join(line[: limit * 8].split())[:limit]  # sliced first: a line may be 200,000 long


def _hits(line: str) -> list[tuple[int, int, str]]:
    """(start, value start, kind) of each label on the line that counts as a label."""
    out = []
    indent = len(line) - len(line.lstrip())
    for match in _LABEL.finditer(line):
        kind, strong = _KINDS[_key(match.group(1))]
        at, separated = match.start(), any(c in match.group(2) for c in _COLONS)
        if strong or separated or at <= indent or line[max(at - 2, 0) : at] == "  ":
            out.append((at, match.end(), kind))
    return out


def _before_label(line: str, hits: list[tuple[int, int, str]]) -> str:
    return line[: hits[0][0] if hits else len(line)].strip()


_WHAT = {  # how the evidence names each field
    "references": "case reference", "payer_references": "payer reference", "member_ids": "member id",
    "names": "name", "birth_dates": "birth date", "auth_number": "authorization number",
    "approved_units": "approved units", "approved_from": "approved from", "approved_to": "approved to",
    "denial_reason": "denial reason",
}  # fmt: skip


def read_reply(text: str, *, today: date | None = None) -> Reply:
    """What the reply says, as far as its text shows; `today` (default: the clock) sets the century
    of two-digit birth years. Never raises on any text."""
    return _Reader(text, today or date.today()).read()


class _Reader:
    """One reading of one letter: the values found, in order, and the lines they came from."""

    def __init__(self, text: str, today: date) -> None:
        self.lines = unicodedata.normalize("NFKC", text[:MAX_TEXT]).translate(_TEXT).split("\n")
        self.hits = [_hits(line) for line in self.lines]
        self.today = today
        self.values: dict[str, dict[str, None]] = {}  # field -> its values in order (an ordered set)
        self.evidence: list[tuple[int, str, str, str]] = []  # (line number, field, what, line)
        # line number -> (its decisions, the line shown), for the lines a decision label read:
        # their words are not read again
        self.labelled: dict[int, tuple[set[str], str]] = {}

    def read(self) -> Reply:
        for number, line in enumerate(self.lines):
            for match in _REFERENCE.finditer(line):
                if code := _code(match.group(1)):
                    self.add("references", "PA-" + code, number, line)
            for kind, value, where, shown in self.labelled_values(number):
                self.read_value(kind, value, where, shown)
            if counted := _UNITS_AFTER.search(line):
                self.add("approved_units", counted.group(1), number, line)
        decision = self.decide()
        reason = self.first("denial_reason") if decision in ("denied", _PARTIAL) else None
        units, first = self.first("approved_units"), self.first
        many = {field: tuple(values) for field, values in self.values.items()}
        evidence = sorted(self.evidence, key=lambda found: found[0])  # in the letter's order
        return Reply(
            references=many.get("references", ()), payer_references=many.get("payer_references", ()),
            member_ids=many.get("member_ids", ()), names=many.get("names", ()),
            birth_dates=many.get("birth_dates", ()), auth_number=first("auth_number"), decision=decision,
            approved_units=int(units) if units else None, approved_from=first("approved_from"),
            approved_to=first("approved_to"), denial_reason=reason,
            evidence=tuple((what, line) for _, field, what, line in evidence if field != "denial_reason" or reason),
        )  # fmt: skip

    def add(self, field: str, value: str, number: int, line: str) -> None:
        seen = self.values.setdefault(field, {})
        if value not in seen:
            seen[value] = None
            what = _WHAT[field] if field == "denial_reason" else f"{_WHAT[field]} {value}"
            self.evidence.append((number, field, what, _clip(line)))

    def first(self, field: str) -> str | None:
        return next(iter(self.values.get(field, ())), None)

    def labelled_values(self, number: int) -> list[tuple[str, str, int, str]]:
        """(kind, value, its line number, the line or lines to show) for each label on a line."""
        line, hits, lines, out = self.lines[number], self.hits[number], self.lines, []
        ends = [start for start, _, _ in hits[1:]] + [len(line)] if hits else []
        for (_, begin, kind), end in zip(hits, ends, strict=True):
            value, where, shown = line[begin:end].strip(), number, line
            if not value and end == len(line) and (nxt := self.next_value(number)) is not None:
                # the value sits on the next line (a two-column form, as OCR reads it)
                value, where, shown = _before_label(lines[nxt], self.hits[nxt]), nxt, f"{line} / {lines[nxt]}"
            if value := value.lstrip(_NOISE):
                out.append((kind, value, where, shown))
        return out

    def next_value(self, number: int) -> int | None:
        """The line holding the value of a label that ends line `number`: the next non-blank line
        within two, unless it is a label itself (then OCR put the form's values somewhere else)."""
        lines = self.lines
        nxt = next((n for n in range(number + 1, min(number + 3, len(lines))) if lines[n].strip()), None)
        if nxt is None or lines[nxt].rstrip().endswith(":") or not _before_label(lines[nxt], self.hits[nxt]):
            return None
        return nxt

    def read_value(self, kind: str, value: str, number: int, line: str) -> None:
        """Record what a label's value says, when it has the shape that label's value must have."""
        if kind == "decision":
            stops = _stops(value)
            kinds = {k for m in _PHRASE.finditer(value) if (k := _fold(m, value, stops))}
            self.labelled.setdefault(number, (set(), line))[0].update(kinds)
        elif kind in ("auth_number", "payer_references", "member_ids"):
            token = _TOKEN.match(value)
            ours = _LIKE_OURS.match(value)  # under "Your reference" stands ours (or OCR's misreading)
            if token and not ours and len(token.group(0)) <= 40 and any(c.isdigit() for c in token.group(0)):
                self.add(kind, token.group(0), number, line)
        elif kind == "names" and (name := _NAME.match(value)):
            self.add(kind, re.sub(" *, *", ", ", name.group(0).strip(" ,.-")), number, line)
        elif kind == "birth_dates" and (found := _DATE_RE.match(value)):
            if iso := _to_date(found, "", True, self.today):
                self.add(kind, iso, number, line)
        elif kind == "approved_units" and (units := _UNITS.match(value)):
            if any(c.isdigit() for c in units.group(0)):
                self.add(kind, str(int(units.group(0).translate(_DIGITS))), number, line)
        elif kind == "dates" and "approved_from" not in self.values:
            span = _RANGE.match(value) or _DATE_RE.match(value)
            if span and (start := _to_date(span, "", False, self.today)):
                self.add("approved_from", start, number, line)  # alone: "Effective 12/01/2026"
                if end := _to_date(span, "b_", False, self.today):
                    self.add("approved_to", end, number, line)
        elif kind == "denial_reason" and kind not in self.values:
            self.add(kind, _clip(value, 300), number, line)

    def decide(self) -> str | None:
        """The decision of the labelled lines if they give one, else of the words elsewhere."""
        words: dict[int, tuple[set[str], str]] = {}
        for number, line in enumerate(self.lines):
            if number not in self.labelled:
                stops = _stops(line)
                for phrase in _PHRASE.finditer(line):
                    if decided := _fold(phrase, line, stops):
                        words.setdefault(number, (set(), line))[0].add(decided)
        source = self.labelled if any(kinds for kinds, _ in self.labelled.values()) else words
        for number, (kinds, shown) in sorted(source.items()):
            for one in sorted(kinds):
                what = f"decision {one} " + ("(labelled)" if source is self.labelled else "(word)")
                self.evidence.append((number, "decision", what, _clip(shown)))
        return _decide(set().union(*(kinds for kinds, _ in source.values())))
