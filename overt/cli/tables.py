"""Tables that fit the terminal without cutting words in half.

Rich squeezes every column to fit and then cuts words ("stati…", "pendi…"). Here a column is either a
value (an id, a status, a score: never wrapped or cut) or free text (`wrap`: wrapped between words), and
the columns marked `optional` are left out, last first, until the rest fits; a note names what was left
out. `--wide` shows every column at its full width, however wide the lines become; `--json` has it all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from .output import console

WideOpt = typer.Option(False, "--wide", help="Every column at full width (lines may exceed the terminal).")

BORDER = 4  # the table's outer borders and their padding
PER_COLUMN = 3  # a separator and two padding cells
MIN_WRAPPED = 16  # the narrowest a free-text column may be squeezed to


def _width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.splitlines()), default=0)


def fitted_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    optional: Sequence[str] = (),
    wrap: Collection[str] = (),
    wide: bool = False,
) -> tuple[Table, list[str], int]:
    """The table, the headers left out, and the width it needs: values whole, free text wrapped."""
    rows = [list(row) for row in rows]
    natural = {h: max([len(h), *(_width(row[i]) for row in rows)]) for i, h in enumerate(headers)}

    def needed(columns: Sequence[str]) -> int:  # at full width: optional columns give way to wrapping
        return BORDER + sum(natural[h] for h in columns) + PER_COLUMN * (len(columns) - 1)

    shown = list(headers)
    if not wide:
        for column in reversed(optional):
            if needed(shown) <= console.width:
                break
            shown.remove(column)
    table = Table()
    for h in shown:
        if h in wrap and not wide:
            table.add_column(h, overflow="fold", min_width=min(natural[h], MIN_WRAPPED))
        else:
            table.add_column(h, no_wrap=True, min_width=natural[h])
    index = [headers.index(h) for h in shown]
    for row in rows:
        table.add_row(*(row[i] for i in index))
    return table, [h for h in headers if h not in shown], needed(headers)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, wide: bool = False, **layout: Any) -> None:
    """Print `fitted_table` (same `optional` and `wrap`), at full width with --wide, naming what it left out."""
    table, hidden, full = fitted_table(headers, rows, wide=wide, **layout)
    console.print(table, width=max(console.width, full) if wide else None, crop=not wide)
    if hidden:
        console.print(f"[dim]not shown at this width: {', '.join(hidden)} (--wide or --json)[/dim]")
