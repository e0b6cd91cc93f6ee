"""priorauth's pure core: payer rulesets and forms in, explained decisions out.

No Flask, no database, no network; the only I/O is reading the files a caller hands in.
"""

from engine.catalog import check_rulesets, load_forms, load_rulesets, run_tests
from engine.errors import BackendError, EngineError, FactsError, LoadError, Problem
from engine.evaluate import Evaluator
from engine.forms import Form, load_form, load_form_file
from engine.rulesets import Ruleset, load_ruleset, load_ruleset_file

__all__ = [
    "BackendError",
    "EngineError",
    "Evaluator",
    "FactsError",
    "Form",
    "LoadError",
    "Problem",
    "Ruleset",
    "check_rulesets",
    "load_form",
    "load_form_file",
    "load_forms",
    "load_ruleset",
    "load_ruleset_file",
    "load_rulesets",
    "run_tests",
]
