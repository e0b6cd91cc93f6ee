"""A code index answers exactly like the value sets it merges, ranges written out or not."""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import gates
from engine.gates import CodeIndex, Gate, GateIndex
from engine.valuesets import build

SETS = [
    build("imaging", ["70551-70553", "72148-72158", "73721", "E0600-E0699"]),
    build("spine", ["M46.2*", "M4*", "G83.4", "72150"]),
    frozenset({"72148", "x"}),
]
CODES = st.one_of(
    st.sampled_from(
        ["70551", "70554", "72150", "72159", "E0601", "E600", "E06010", "M46.21", "M4", "M", "x", ""]
    ),
    st.builds("{}{:04d}".format, st.sampled_from(["E", "7", "M46.", "٣"]), st.integers(0, 9999)),
    st.text(alphabet="EM0123456789.*-", max_size=7),
)


WRITTEN_OUT = CodeIndex(enumerate(SETS))


def bisected() -> CodeIndex:
    limit = gates.EXPAND_LIMIT
    gates.EXPAND_LIMIT = 0
    try:
        return CodeIndex(enumerate(SETS))
    finally:
        gates.EXPAND_LIMIT = limit


BISECTED = bisected()


def test_ranges_are_written_out_up_to_the_limit_and_bisected_beyond() -> None:
    assert not WRITTEN_OUT.ranges and BISECTED.ranges


@settings(max_examples=300, deadline=None)
@given(code=CODES)
def test_a_code_index_holds_a_code_exactly_when_its_sets_do(code: str) -> None:
    expected = sum(1 << bit for bit, codes in enumerate(SETS) if code in codes)
    assert WRITTEN_OUT.lookup(code) == BISECTED.lookup(code) == expected


def test_the_gate_index_lists_the_rules_a_case_can_reach_in_order() -> None:
    index = GateIndex([Gate("service.codes", SETS[0]), None, Gate("urgency", frozenset({"emergency"}))])
    assert index.candidates({"service.codes": ["72150"], "urgency": "standard"}) == [0, 1]
    assert index.candidates({"urgency": "emergency"}) == [1, 2]
