"""How list commands print: ``-o table|json|tsv|ids``, as ``az`` does; ids never cut."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    tsv = "tsv"
    ids = "ids"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table (default), json (every field), tsv (no header) or ids (one id per line)",
    ),
]


def emit(
    rows: Sequence[dict[str, Any]],
    output: OutputFormat,
    columns: Sequence[str] | None = None,
    id_key: str | None = None,
) -> None:
    """Print ``rows``. ``columns`` picks what table and tsv show (default: every key of the
    first row); ``ids`` prints ``id_key`` (default: the first column) one per line."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if output is OutputFormat.json:
        typer.echo(json.dumps(list(rows), indent=2, default=str))
    elif output is OutputFormat.ids:
        key = id_key or (columns[0] if columns else "")
        for row in rows:
            typer.echo(str(row.get(key, "")))
    elif output is OutputFormat.tsv:
        for row in rows:
            typer.echo("\t".join(_cell(row.get(column)) for column in columns))
    else:
        print_table(columns, [[_cell(row.get(column)) for column in columns] for row in rows])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table as wide as its longest row needs, whatever the terminal or pipe width: a
    cell is never cut with an ellipsis, so an id can be copied back into a command."""
    table = Table(*headers, box=None, pad_edge=False, header_style="bold")
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    for row in rows:
        table.add_row(*row)
    console = Console()
    width = console.measure(table, options=console.options.update(width=10_000)).maximum
    Console(width=max(width, console.width if console.is_terminal else 0)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
