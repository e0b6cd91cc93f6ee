"""FHIR: a Bundle from an EHR made into case facts (intake.py); docs/intake.md for what it reads."""

from connectors.fhir.intake import Intake, IntakeProblem, bundle_to_facts

__all__ = ["Intake", "IntakeProblem", "bundle_to_facts"]
