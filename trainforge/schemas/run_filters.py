"""The runs listing's ``filter`` expressions: metric thresholds, tag and property matches.

One syntax for the REST listing, the typed client and the studio's filter box, in the
style of MLflow's ``search_runs`` (which users of its UI already type)::

    metrics.accuracy > 0.9 and properties.stage = prod
    max(metrics.`val loss`) <= 0.25 and tags.team != "speech"

- ``metrics.NAME`` is the run's last logged scalar value of NAME (its newest attempt's);
  ``max(metrics.NAME)`` and ``min(metrics.NAME)`` the best value, for a metric to raise or
  to lower. Operators ``>``, ``>=``, ``<``, ``<=``, ``=``, ``!=`` against a number. A run
  that never logged a number under NAME matches no metric condition.
- ``tags.KEY`` / ``properties.KEY`` with ``=`` or ``!=`` and a value, bare or quoted with
  ``'`` or ``"``; ``!=`` also matches runs without the key.
- A name holding spaces, operators or quotes is written in backticks.
- Conditions are joined by ``and`` (any case); there is no ``or``.

Parsed here, once, so that a bad expression is a ``ValueError`` that says what is wrong
and where; the server turns it into a 400 naming ``filter``.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, Field

MAX_FILTER_TEXT = 2000
MAX_CONDITIONS = 20
MAX_NAME = 255

Comparison = Literal[">", ">=", "<", "<=", "=", "!="]


class MetricCondition(BaseModel):
    """A threshold on a run's metric: its last value, or its max or min."""

    field: Literal["metrics"] = "metrics"
    name: str = Field(min_length=1, max_length=MAX_NAME)
    aggregate: Literal["last", "max", "min"] = "last"
    op: Comparison
    value: float = Field(allow_inf_nan=False)


class KeyCondition(BaseModel):
    """A tag or property equal (or not) to a value."""

    field: Literal["tags", "properties"]
    key: str = Field(min_length=1, max_length=MAX_NAME)
    op: Literal["=", "!="]
    value: str = Field(max_length=MAX_FILTER_TEXT)


Condition = MetricCondition | KeyCondition


class RunFilter(BaseModel):
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)


# One token at a time: a backticked name, a quoted string, an operator, parentheses, a dot,
# or a bare word (anything else up to a space, an operator, a dot or a parenthesis).
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<backtick>`[^`]*`)
      | (?P<quoted>'[^']*'|"[^"]*")
      | (?P<op>>=|<=|!=|==|>|<|=)
      | (?P<punct>[().])
      | (?P<word>[^\s()<>=!.'"`]+(?:\.[^\s()<>=!.'"`]+)*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"unexpected {text[position:].strip()[:20]!r} at character {position}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, what: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise ValueError(f"expected {what} at the end")
        self.at += 1
        return token

    def expect(self, kind: str, value: str | None, what: str) -> None:
        got = self.take(what)
        if got[0] != kind or (value is not None and got[1] != value):
            raise ValueError(f"expected {what} at character {got[2]}, not {got[1]!r}")

    def name(self, what: str) -> str:
        kind, value, where = self.take(what)
        if kind == "backtick":
            value = value[1:-1]
        elif kind != "word":
            raise ValueError(f"expected {what} at character {where}, not {value!r}")
        if not value:
            raise ValueError(f"{what} is empty at character {where}")
        if len(value) > MAX_NAME:
            raise ValueError(f"{what} is longer than {MAX_NAME} characters")
        return value

    def field_and_name(self) -> tuple[str, str]:
        """``metrics.NAME`` with the rest of a dotted word as the name (``metrics.val.loss``
        is the metric ``val.loss``), or ``metrics`` ``.`` and a backticked name."""
        kind, value, where = self.take("metrics., tags. or properties.")
        if kind == "word" and "." in value:
            field, _, name = value.partition(".")
        elif kind == "word" and value.lower() in ("metrics", "tags", "properties"):
            field = value
            self.expect("punct", ".", f"'.' after {value!r}")
            name = self.name("a name")
        else:
            raise ValueError(
                f"{value!r} at character {where}: filter on metrics.NAME, tags.KEY or "
                "properties.KEY"
            )
        if field.lower() not in ("metrics", "tags", "properties"):
            raise ValueError(
                f"{field!r} at character {where}: filter on metrics.NAME, tags.KEY or "
                "properties.KEY"
            )
        if len(name) > MAX_NAME:
            raise ValueError(f"a name is longer than {MAX_NAME} characters")
        return field.lower(), name

    def condition(self) -> Condition:
        first = self.peek()
        aggregate = "last"
        if first is not None and first[0] == "word" and first[1].lower() in ("max", "min", "last"):
            following = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
            if following is not None and following[1] == "(":
                aggregate = first[1].lower()
                self.at += 2
        field, name = self.field_and_name()
        if aggregate != "last":
            self.expect("punct", ")", "')'")
            if field != "metrics":
                raise ValueError(f"{aggregate}() takes a metric (metrics.NAME), not {field}")
        kind, op, where = self.take("an operator (>, >=, <, <=, =, !=)")
        if kind != "op":
            raise ValueError(f"expected an operator (>, >=, <, <=, =, !=) at character {where}")
        op = "=" if op == "==" else op
        kind, raw, where = self.take("a value")
        if field == "metrics":
            if kind != "word":
                raise ValueError(f"metrics.{name} compares with a number, not {raw}")
            try:
                number = float(raw)
            except ValueError:
                raise ValueError(f"metrics.{name} compares with a number, not {raw!r}") from None
            if not math.isfinite(number):
                raise ValueError(f"metrics.{name} compares with a finite number, not {raw!r}")
            return MetricCondition(name=name, aggregate=aggregate, op=op, value=number)
        if op not in ("=", "!="):
            raise ValueError(f"{field}.{name} takes = or !=, not {op}")
        if kind == "quoted":
            raw = raw[1:-1]
        elif kind != "word":
            raise ValueError(f"expected a value at character {where}, not {raw!r}")
        return KeyCondition(field=field, key=name, op=op, value=raw)

    def parse(self) -> list[Condition]:
        conditions = [self.condition()]
        while self.peek() is not None:
            kind, value, where = self.take("and")
            if kind != "word" or value.lower() != "and":
                raise ValueError(f"expected 'and' at character {where}, not {value!r}")
            conditions.append(self.condition())
        return conditions


def parse_filter(texts: list[str]) -> RunFilter:
    """The conditions of every expression (each may join several by ``and``); ValueError
    saying what is wrong, with the character where it is."""
    conditions: list[Condition] = []
    for text in texts:
        if len(text) > MAX_FILTER_TEXT:
            raise ValueError(f"an expression is longer than {MAX_FILTER_TEXT} characters")
        if text.strip():
            conditions += _Parser(text).parse()
    if len(conditions) > MAX_CONDITIONS:
        raise ValueError(f"{len(conditions)} conditions; at most {MAX_CONDITIONS}")
    return RunFilter(conditions=conditions)
