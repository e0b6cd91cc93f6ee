"""Conditions in words, for the explanations a coordinator reads."""

from __future__ import annotations

from datetime import date
from typing import Any

from engine.conditions import Leaf, Node, Quantifier
from engine.conditions import Not as NotNode

_OPS = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
    "in": "in",
    "not_in": "not in",
    "any_in": "has any of",
    "all_in": "all in",
    "none_in": "has none of",
    "exists": "exists:",
    "matches": "matches",
    "prefix": "starts with",
    "between": "between",
    "within_days": "within the last days:",
    "older_than_days": "older than days:",
}


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def describe(node: Node | None) -> str:
    """A condition in words, for explanations ("documents: some with type = order")."""
    if node is None:
        return "nothing"
    if isinstance(node, Leaf):
        arg = node.arg
        shown = (
            f"value set {arg.name}"
            if hasattr(arg, "codes")
            else arg.pattern
            if hasattr(arg, "pattern")
            else ", ".join(sorted(_text(v) for v in arg))
            if isinstance(arg, frozenset)
            else " and ".join(_text(v) for v in arg)
            if isinstance(arg, tuple)
            else _text(arg)
        )
        return f"{node.path} {_OPS.get(node.op, node.op)} {shown}"
    if isinstance(node, Quantifier):
        inner = describe(node.where) if node.where is not None else ""
        if node.kind == "count":
            counts = " and ".join(f"{op} {arg}" for op, arg in node.count)
            return f"{node.path}: count{' of ' + inner if inner else ''} {counts}"
        return f"{node.path}: {node.kind} with {inner}"
    if isinstance(node, NotNode):
        return f"not ({describe(node.child)})"
    joiner = " and " if type(node).__name__ == "All" else " or "
    return joiner.join(_grouped(c) for c in node.children)


def _grouped(node: Node) -> str:
    text = describe(node)
    nested = not isinstance(node, Leaf | Quantifier | NotNode) and len(node.children) > 1
    return f"({text})" if nested else text
