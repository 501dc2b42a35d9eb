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
- Conditions are joined by ``and`` and ``or`` (any case), ``and`` binding tighter, and
  grouped with parentheses: ``metrics.acc > 0.9 and (tags.team = nlp or tags.team = rl)``.

Parsed here, once, so that a bad expression is a ``ValueError`` that says what is wrong
and where; the server turns it into a 400 naming ``filter``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Literal, get_args

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
# Parentheses nested deeper than this are refused: the parser and the SQL it becomes
# recurse once per level.
MAX_DEPTH = 10


class AllOf(BaseModel):
    """Every one of the parts holds (``and``)."""

    all_of: list[Expression] = Field(min_length=2)


class AnyOf(BaseModel):
    """At least one of the parts holds (``or``)."""

    any_of: list[Expression] = Field(min_length=2)


Expression = Condition | AllOf | AnyOf
AllOf.model_rebuild()
AnyOf.model_rebuild()


class RunFilter(BaseModel):
    """A listing's filter: one expression (None: every run), the repeated ``filter``
    parameters joined by ``and``."""

    where: Expression | None = None


def conditions_of(expression: Expression | None) -> list[Condition]:
    """The conditions an expression holds, in the order written."""
    if expression is None:
        return []
    if isinstance(expression, AllOf | AnyOf):
        parts = expression.all_of if isinstance(expression, AllOf) else expression.any_of
        return [found for part in parts for found in conditions_of(part)]
    return [expression]


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

    def joined(self, word: str, part: Callable[[int], Expression], depth: int) -> Expression:
        """``part (word part)*``, one part alone as itself."""
        parts = [part(depth)]
        while (token := self.peek()) is not None and token[0] == "word":
            if token[1].lower() != word:
                break
            self.at += 1
            parts.append(part(depth))
        if len(parts) == 1:
            return parts[0]
        return AllOf(all_of=parts) if word == "and" else AnyOf(any_of=parts)

    def either(self, depth: int) -> Expression:
        # ``or`` of ``and``s: ``and`` binds tighter, as in SQL and MLflow.
        return self.joined("or", self.every, depth)

    def every(self, depth: int) -> Expression:
        return self.joined("and", self.factor, depth)

    def factor(self, depth: int) -> Expression:
        token = self.peek()
        if token is not None and token[:2] == ("punct", "("):
            if depth >= MAX_DEPTH:
                raise ValueError(
                    f"parentheses nest deeper than {MAX_DEPTH} at character {token[2]}"
                )
            self.at += 1
            inner = self.either(depth + 1)
            self.expect("punct", ")", "')'")
            return inner
        return self.condition()

    def parse(self) -> Expression:
        expression = self.either(0)
        token = self.peek()
        if token is not None:
            kind, value, where = token
            if (kind, value) == ("punct", ")"):
                raise ValueError(f"')' at character {where} closes no '('")
            raise ValueError(f"expected 'and' or 'or' at character {where}, not {value!r}")
        return expression


def parse_filter(texts: list[str]) -> RunFilter:
    """One expression of every text (each may join conditions by ``and``, ``or`` and
    parentheses), the texts joined by ``and``; ValueError saying what is wrong, with the
    character where it is."""
    parts: list[Expression] = []
    for text in texts:
        if len(text) > MAX_FILTER_TEXT:
            raise ValueError(f"an expression is longer than {MAX_FILTER_TEXT} characters")
        if text.strip():
            parts.append(_Parser(text).parse())
    where: Expression | None = None
    if len(parts) == 1:
        where = parts[0]
    elif parts:
        where = AllOf.model_construct(all_of=parts)
    count = len(conditions_of(where))
    if count > MAX_CONDITIONS:
        raise ValueError(f"{count} conditions; at most {MAX_CONDITIONS}")
    return RunFilter(where=where)


# -- order ---------------------------------------------------------------------------
# What a listing sorts by: a run's own columns, or a metric's last value, a tag or a
# property by name. ``name`` is the run's display name, else its id.
OrderField = Literal[
    "created",
    "start_time",
    "end_time",
    "duration",
    "status",
    "name",
    "number",
    "target",
    "metrics",
    "tags",
    "properties",
]
# The fields without a name after them (``metrics.NAME`` and the like have one).
ORDER_FIELDS = tuple(f for f in get_args(OrderField) if f not in ("metrics", "tags", "properties"))
ORDER_HELP = (
    f"order_by is one of {', '.join(ORDER_FIELDS)}, metrics.NAME, tags.KEY or "
    "properties.KEY, then asc or desc"
)


class RunOrder(BaseModel):
    """A listing's sort: ascending unless ``descending``; runs without a value (no such
    metric or tag, not started, not ended) come last either way, ties by run id."""

    field: OrderField
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    descending: bool = False

    def text(self) -> str:
        """The order as ``order_by`` writes it (a cursor names the order it continues)."""
        what = self.field if self.name is None else f"{self.field}.`{self.name}`"
        return f"{what} {'desc' if self.descending else 'asc'}"


def parse_order(text: str) -> RunOrder:
    """``FIELD [asc|desc]``: ValueError saying what is wrong and what is allowed."""
    if len(text) > MAX_FILTER_TEXT:
        raise ValueError(f"it is longer than {MAX_FILTER_TEXT} characters")
    parser = _Parser(text)
    first = parser.peek()
    if first is None:
        raise ValueError(f"it is empty; {ORDER_HELP}")
    kind, value, where = first
    name: str | None = None
    if kind == "word" and value.lower() in ORDER_FIELDS:
        parser.at += 1
        field = value.lower()
    else:
        try:
            field, name = parser.field_and_name()
        except ValueError:
            raise ValueError(f"{value!r} at character {where}: {ORDER_HELP}") from None
    direction = parser.peek()
    descending = False
    if direction is not None:
        parser.at += 1
        if direction[0] != "word" or direction[1].lower() not in ("asc", "desc"):
            raise ValueError(
                f"expected asc or desc at character {direction[2]}, not {direction[1]!r}"
            )
        descending = direction[1].lower() == "desc"
    rest = parser.peek()
    if rest is not None:
        raise ValueError(f"unexpected {rest[1]!r} at character {rest[2]}; {ORDER_HELP}")
    return RunOrder(field=field, name=name, descending=descending)
