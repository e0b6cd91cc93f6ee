"""regexsafe.problem: the patterns forms use pass; shapes that backtrack exponentially are refused.

No timing here: a refused pattern is judged by its shape, never by running it.
"""

from __future__ import annotations

import pytest

from engine.regexsafe import MAX_PATTERN, problem

NESTED = "it nests one repeat inside another (like `(a+)+`), which can take forever on some text"
ALIKE = (
    "it repeats a choice whose options can start alike (like `(ab|\\w\\w)*`), "
    "which can take forever on some text"
)
BACKREF = "it refers back to a group (\\1), which can take forever on some text"


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[A-Z]\d{2}(\.\d{1,4})?$",  # ICD-10-CM
        r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$",  # ICD-10-CM, as the infusion form writes it
        r"^\d{10}$",  # NPI
        r"^\d{5}(-\d{4})?$",  # ZIP and ZIP+4
        r"^[A-Z][0-9]{4}$",  # HCPCS
        r"^([A-Z][0-9]{4}|[0-9]{5})$",  # HCPCS or CPT
        r"^[A-Za-z]+( [A-Za-z]+)*$",  # words separated by one space
        r"(\d+,)*\d+",  # a comma list of numbers
        r"^[a-z]+(-[a-z]+)*$",  # a slug
        r"^(\d{3}-)*\d{4}$",
        r"^\w+@\w+\.com$",
        r"(a|b)*",
        r"(?=\d)\d{3}",
        r"(a{3})+$",  # a fixed-width body splits the text one way only
        "a" * MAX_PATTERN,
    ],
)
def test_a_safe_pattern_has_no_problem(pattern):
    assert problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a+)+$", NESTED),
        (r"(.*)*", NESTED),
        (r"(\w+\s?)*$", NESTED),
        (r"(\d+)+", NESTED),
        (r"(a*)*b", NESTED),
        (r"((ab)*)+", NESTED),
        (r"(?:a+){2,}", NESTED),
        (r"(x+x+)+y", NESTED),
        (r"(a{1,200})+", NESTED),  # an inner bound over 100 counts as unbounded
        (r"((a+)?)+$", NESTED),
        (r"^(\d*,?)*$", NESTED),
        (r"(ab|\w\w)*", ALIKE),
        (r"(a|a?)+$", NESTED),
        (r"(?s)(.|\n)*$", ALIKE),
        (r"(a)\1", BACKREF),
        (r"(?P<x>a)(?P=x)", BACKREF),
        ("a" * (MAX_PATTERN + 1), "the pattern is 501 characters long; keep it under 500"),
        ("[A-Z", "the pattern is not a valid regular expression (unterminated character set)"),
        ("(", "the pattern is not a valid regular expression (missing ), unterminated subpattern)"),
        ("a{2,1}", "the pattern is not a valid regular expression (min repeat greater than max repeat)"),
    ],
)
def test_an_unsafe_or_invalid_pattern_is_refused_in_words(pattern, why):
    assert problem(pattern) == why


def test_an_unsafe_shape_inside_a_lookahead_or_a_branch_is_found():
    assert problem(r"^(?=(a+)+$)b") == NESTED
    assert problem(r"^x|(a+)+$") == NESTED


@pytest.mark.parametrize("pattern", [r"(a|a)*$", r"(?:x|x)*y", r"(a|aa)*$", r"(a|aa){1,50}$"])
def test_a_repeated_choice_whose_options_start_alike_is_refused_even_when_they_are_plain_text(pattern):
    assert problem(pattern) is not None


@pytest.mark.parametrize("pattern", [r"(a+){1,100}$", r"(\d{1,100}){1,100}x", r"(a{1,5})*$", r"(a{1,50})+$"])
def test_a_variable_width_repeat_inside_a_repeat_of_many_rounds_is_refused_bounded_or_not(pattern):
    assert problem(pattern) == NESTED


@pytest.mark.parametrize("pattern", [r"(a{3})+$", r"(a+){2}$", r"(\d{1,4}-){1,3}\d+"])
def test_a_fixed_width_body_or_a_few_rounds_is_allowed(pattern):
    assert problem(pattern) is None


@pytest.mark.parametrize("pattern", [r"(a+){1,10}$", r"(\d+){2,10}x"])
def test_a_variable_width_repeat_inside_ten_rounds_is_refused(pattern):
    assert problem(pattern) is not None
