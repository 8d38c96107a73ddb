"""A registry export after ingest: its typed canonical tables and what validation did."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from smanh.ingest.problems import Problem
from smanh.ingest.readers import SourceFile


@dataclass
class RegistryExport:
    """The typed tables of one export, with provenance and what validation did.

    ``excluded``: one row per excluded patient row (``patient_id``, ``reason``);
    ``dropped_rows``: rows of unknown patients dropped, per table; ``problems``: every
    problem found (only non-empty with ``on_invalid="exclude"``); ``completeness``:
    per table and column the rows and the non-blank cells of the export as read.
    """

    patients: pd.DataFrame
    events: pd.DataFrame
    treatments: pd.DataFrame
    assessments: pd.DataFrame
    sources: list[SourceFile] = field(default_factory=list)
    # (table, column) -> number of partial dates imputed
    imputed_dates: dict[tuple[str, str], int] = field(default_factory=dict)
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"patient_id": [], "reason": []}, dtype=object)
    )
    dropped_rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    completeness: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["table", "field", "rows", "known"])
    )
    data_cutoff: dt.date | None = None  # no date of the export is later

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    @property
    def n_in_export(self) -> int:
        """Patients (rows of the patients table) in the export, before exclusions."""
        return len(self.patients) + len(self.excluded)
