"""Problems found in a registry export, collected rather than raised one at a time."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from smanh.errors import SmanhError

# How many problems the exception message shows; the full list goes to a CSV.
MESSAGE_LIMIT = 50


@dataclass(frozen=True, order=True)
class Problem:
    """One broken rule: where (file, line, column), what (value) and which rule.

    ``line`` is the line in the file as an editor shows it (the header is line 1);
    0 when the problem concerns the whole file or column. ``key`` names what ``line``
    holds when it is not a line number: the id column of a database table (an OMOP
    table's ``measurement_id``, ``person_id``, ...; :mod:`smanh.ingest.omop`).
    """

    file: str
    line: int
    column: str
    value: str
    rule: str
    key: str = ""

    @property
    def where(self) -> str:
        """``line 12``, or ``measurement_id=12`` for a database row."""
        return f"{self.key}={self.line}" if self.key else f"line {self.line}"

    def __str__(self) -> str:
        where = f"{self.file}, {self.where}" if self.line else self.file
        column = f", column '{self.column}'" if self.column else ""
        value = f", value '{self.value}'" if self.value != "" else ""
        return f"{where}{column}{value}: {self.rule}"


PROBLEM_COLUMNS = ["file", "line", "column", "value", "rule"]


@dataclass(frozen=True, order=True)
class Finding:
    """A broken rule in one row of a table, before it is located in its source file.

    ``table`` is the canonical table, ``row`` the row's position in it, ``column`` the
    canonical column ('' for the whole row). :meth:`smanh.ingest.readers.RawTable.problem`
    turns it into a :class:`Problem` (file, line, column as in the source).
    """

    table: str
    row: int
    column: str
    value: str
    rule: str


class RegistryValidationError(SmanhError):
    """The export breaks rules of the canonical format; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem], written_to: str = ""):
        self.problems = sorted(set(problems))
        shown = "\n".join(f"  - {p}" for p in self.problems[:MESSAGE_LIMIT])
        more = len(self.problems) - MESSAGE_LIMIT
        tail = f"\n  ... and {more} more" if more > 0 else ""
        where = f"\nThe full list is in {written_to}" if written_to else ""
        super().__init__(
            f"the registry export has {len(self.problems)} problem(s):\n{shown}{tail}{where}"
        )


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """The problems as a table (for ``results/validation/problems.csv``); a database
    row's ``line`` is written with its key (``measurement_id=12``)."""
    rows = [{**asdict(p), "line": p.where if p.key else p.line} for p in sorted(problems)]
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
