"""``smanh check``: validate an export as the workflow's ``ingest`` job does, without analysing.

The export is read and validated by the same functions as in the workflow
(:func:`smanh.ingest.registry.read_tables` and :func:`smanh.ingest.registry.build_export`
are what ``read_registry`` runs), so every problem has the workflow's wording; unlike the job, which
prints the first 50 and writes the rest to ``problems.csv``, every problem is printed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smanh.cli.exports import ExportSource
from smanh.config.date_formats import ISO_DATE_FORMAT

ROWS_IN_WORDS = {"patients": "patients", "events": "events", "treatments": "treatment episodes",
                 "assessments": "assessments"}


def check_export(
    source: ExportSource,
    date_format: str = ISO_DATE_FORMAT,
    problems_csv: Path | None = None,
    echo: Callable[[str], None] = print,
    data_cutoff: str | None = None,
) -> int:
    """Print what was read and every problem; 0 when the export passes, else 1. Dates are
    read in ``date_format``; a date after ``data_cutoff`` (default today) is a problem."""
    from smanh.ingest.problems import RegistryValidationError  # the ingest stack (pandas): when it runs
    from smanh.ingest.registry import build_export, cutoff_date, read_tables  # the same

    tables, file_problems, sources = read_tables(**source.read_arguments())
    echo(f"{source.name}: {source.description}")
    for file in sources:
        counted = not file.table.startswith("redcap_") or file.table == "redcap_export"  # not the dictionary
        rows = f"{file.rows:>10,} row{'' if file.rows == 1 else 's'}" if counted else " " * 15
        echo(f"  {file.name:<28} {rows}{'  ' + file.encoding if file.encoding else ''}".rstrip())
    for file in sources:
        if file.note:
            echo(f"note: {file.note}")
    try:
        export = build_export(tables, file_problems, sources, on_invalid="error",
                              data_cutoff=cutoff_date(data_cutoff), date_format=date_format)
    except RegistryValidationError as error:
        echo(problem_message(error))
        if problems_csv is not None:
            _write_problems(error.problems, problems_csv)
            echo(f"Every problem is also in {problems_csv}")
        return 1
    counts = ", ".join(f"{len(export.table(t)):,} {words}" for t, words in ROWS_IN_WORDS.items())
    echo(f"No problems: {counts}.")
    if export.imputed_dates:
        imputed = "; ".join(f"{t}.{c}: {n:,}" for (t, c), n in sorted(export.imputed_dates.items()))
        echo(f"Partial dates to be imputed (YYYY-MM: 15th of the month, YYYY: 1 July): {imputed}.")
    return 0


def problem_message(error) -> str:
    """The ingest job's message (``ERROR: the registry export has N problem(s):`` and one
    ``  - file, line, column, value: rule`` line per problem), with every problem."""
    header = str(error).splitlines()[0]
    return "\n".join([f"ERROR: {header}", *(f"  - {problem}" for problem in error.problems)])


def _write_problems(problems, path: Path) -> None:
    from smanh.ingest.problems import problems_frame  # pandas: only when a list is asked for
    from smanh.jobs.files import write_csv  # the same

    write_csv(problems_frame(problems), path)
