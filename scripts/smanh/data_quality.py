"""Data-quality summary of an export (``results/tables/data_quality.csv``).

One long table, ``section, table, field, statistic, value``, with the sections

* ``completeness``: per table and column, ``rows`` and ``known`` (non-blank cells) and
  ``percent_known``, over the export as read (before any exclusion);
* ``imputed_dates``: per date column, partial dates imputed (``YYYY-MM`` → 15th,
  ``YYYY`` → 1 July) and their percentage of the known dates;
* ``follow_up``: years from enrolment to last contact of the analysed patients —
  ``patients``, ``median``, ``q1``, ``q3``, ``total_person_years``;
* ``assessments``: per scale (and ``all``), ``patients`` assessed, ``assessments``, and
  assessments per assessed patient ``median``, ``q1``, ``q3``;
* ``validation``: ``patients_excluded`` and, per table, ``orphan_rows_dropped`` (rows of
  unknown patients) — with ``registry.on_invalid: exclude``; zero otherwise.

No patient identifier or date is in the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.registry import CHILD_TABLES, RegistryExport

COLUMNS = ["section", "table", "field", "statistic", "value"]
DAYS_PER_YEAR = 365.25
# Statistics that count patients or rows (small-cell suppression applies in the report).
COUNT_STATISTICS = ("rows", "known", "imputed", "patients", "assessments", "patients_excluded", "orphan_rows_dropped")


def data_quality(export: RegistryExport) -> pd.DataFrame:
    rows: list[tuple] = []
    for r in export.completeness.itertuples(index=False):
        rows += [
            ("completeness", r.table, r.field, "rows", r.rows),
            ("completeness", r.table, r.field, "known", r.known),
            ("completeness", r.table, r.field, "percent_known", _percent(r.known, r.rows)),
        ]
    known = export.completeness.set_index(["table", "field"])["known"]
    for (table, column), n in sorted(export.imputed_dates.items()):
        rows += [
            ("imputed_dates", table, column, "imputed", n),
            ("imputed_dates", table, column, "percent_of_known", _percent(n, known.get((table, column), 0))),
        ]
    patients = export.patients
    years = (patients["last_contact_date"] - patients["enrolment_date"]).dt.days / DAYS_PER_YEAR
    rows += [
        ("follow_up", "patients", "last_contact_date - enrolment_date", statistic, value)
        for statistic, value in (
            ("patients", int(years.notna().sum())),
            ("median_years", years.median()),
            ("q1_years", years.quantile(0.25)),
            ("q3_years", years.quantile(0.75)),
            ("total_person_years", years.sum()),
        )
    ]
    assessments = export.assessments
    # Patients and scales numbered once (like groupby: scales sorted, missing keys left
    # out), then assessments per patient counted with bincount: fast on millions of rows.
    patient, _ = pd.factorize(assessments["patient_id"])
    scale_of, scales = pd.factorize(assessments["scale"], sort=True)
    groups = [("all", np.ones(len(assessments), dtype=bool))]
    groups += [(scale, scale_of == code) for code, scale in enumerate(scales)]
    for scale, in_group in groups:
        counts = np.bincount(patient[in_group & (patient >= 0)])
        per_patient = pd.Series(counts[counts > 0], dtype=np.int64)
        rows += [
            ("assessments", "assessments", scale, statistic, value)
            for statistic, value in (
                ("patients", len(per_patient)),
                ("assessments", int(in_group.sum())),
                ("median_per_patient", per_patient.median() if len(per_patient) else None),
                ("q1_per_patient", per_patient.quantile(0.25) if len(per_patient) else None),
                ("q3_per_patient", per_patient.quantile(0.75) if len(per_patient) else None),
            )
        ]
    rows.append(("validation", "patients", "", "patients_excluded", len(export.excluded)))
    rows += [
        ("validation", name, "patient_id", "orphan_rows_dropped", export.dropped_rows.get(name, 0))
        for name in CHILD_TABLES
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _percent(part: int, whole: int):
    return round(100.0 * part / whole, 1) if whole else None


SECTION_TITLES = {
    "completeness": "Completeness per field (export as read)",
    "imputed_dates": "Partial dates imputed (YYYY-MM → 15th of the month, YYYY → 1 July)",
    "follow_up": "Follow-up from enrolment to last contact (analysed patients, years)",
    "assessments": "Assessments per patient and per scale (analysed patients)",
    "validation": "Validation: patients excluded and rows of unknown patients dropped",
}


def display_sections(frame: pd.DataFrame, min_cell_count: int) -> list[tuple[str, pd.DataFrame]]:
    """The data-quality table as the report shows it: one wide table per section,
    counts suppressed below ``min_cell_count``, other numbers rounded."""
    from smanh.report import format_number, suppress_count

    sections = []
    for section, title in SECTION_TITLES.items():
        rows = frame[frame["section"] == section]
        if rows.empty:
            continue
        rows = rows.fillna({"table": "", "field": ""})
        keys = list(dict.fromkeys(zip(rows["table"], rows["field"])))
        wide = rows.set_index(["table", "field", "statistic"])["value"].unstack("statistic")
        wide = wide.reindex(index=pd.MultiIndex.from_tuples(keys, names=["table", "field"]))
        wide = wide[list(rows["statistic"].drop_duplicates())].reset_index()
        for column in wide.columns[2:]:
            values = pd.to_numeric(wide[column], errors="coerce")
            if column in COUNT_STATISTICS:
                wide[column] = [suppress_count(v, min_cell_count) for v in values]
            else:
                wide[column] = [format_number(v, 1) for v in values]
        sections.append((title, wide.astype(str)))
    return sections
