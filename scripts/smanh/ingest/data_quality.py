"""Data-quality summary of an export (``results/tables/data_quality.csv``).

One long table, ``section, table, field, statistic, value``, with the sections

* ``completeness``: per table and column, ``rows`` and ``known`` (non-blank cells) and
  ``percent_known``, over the export as read (before any exclusion);
* ``imputed_dates``: per date column, partial dates imputed (``YYYY-MM`` → 15th,
  ``YYYY`` → 1 July) and their percentage of the known dates;
* ``follow_up``: years from enrolment to last contact of the analysed patients —
  ``patients``, ``median``, ``q1``, ``q3``, ``total_person_years``;
* ``assessments``: per scale of the vocabulary (and ``all``), ``patients`` assessed,
  ``assessments``, and assessments per assessed patient ``median``, ``q1``, ``q3``;
* ``recorded``: per event kind of the vocabulary, deaths and treatments, the ``rows`` and
  ``patients`` the export records (zeros included: an endpoint whose events the export
  never records is "not recorded", not "no events");
* ``after_last_contact``: per table (and ``all``), ``rows`` dated after their patient's
  last contact and the ``patients`` with such rows (legal; follow-up ends at last contact);
* ``validation``: ``patients_excluded`` and, per table, ``orphan_rows_dropped`` (rows of
  unknown patients) — with ``registry.on_invalid: exclude``; zero otherwise.

No patient identifier or date is in the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.config.scales import SCALES
from smanh.config.units import DAYS_PER_YEAR
from smanh.ingest.export import RegistryExport
from smanh.ingest.export_format import CHILD_TABLES, EVENTS
from smanh.ingest.relations import after_last_contact

COLUMNS = ["section", "table", "field", "statistic", "value"]
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
    # Patients numbered once, then assessments per patient counted with bincount: fast on
    # millions of rows. Every scale of the vocabulary, recorded or not, in sorted order.
    patient, _ = pd.factorize(assessments["patient_id"])
    scale_of = assessments["scale"].to_numpy()
    groups = [("all", np.ones(len(assessments), dtype=bool))]
    groups += [(scale, scale_of == scale) for scale in sorted(SCALES)]
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
    rows += _recorded(export)
    rows += [
        ("after_last_contact", name, "", statistic, value)
        for name, counts in after_last_contact(export).items()
        for statistic, value in zip(("rows", "patients"), counts)
    ]
    rows.append(("validation", "patients", "", "patients_excluded", len(export.excluded)))
    rows += [
        ("validation", name, "patient_id", "orphan_rows_dropped", export.dropped_rows.get(name, 0))
        for name in CHILD_TABLES
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _recorded(export: RegistryExport) -> list[tuple]:
    """Rows and patients of every event kind, of deaths and of treatments."""
    events = export.events
    rows = []
    for kind in EVENTS:
        of_kind = events["patient_id"][events["event"] == kind] if len(events) else events.get("patient_id", [])
        rows += [("recorded", "events", kind, "rows", len(of_kind)),
                 ("recorded", "events", kind, "patients", int(pd.Series(of_kind).nunique()))]
    deaths = int(export.patients["death_date"].notna().sum())
    rows += [("recorded", "patients", "death_date", "rows", deaths),
             ("recorded", "patients", "death_date", "patients", deaths)]
    treated = export.treatments["patient_id"] if len(export.treatments) else pd.Series([], dtype=object)
    rows += [("recorded", "treatments", "", "rows", len(treated)),
             ("recorded", "treatments", "", "patients", int(treated.nunique()))]
    return rows


def _percent(part: int, whole: int):
    return round(100.0 * part / whole, 1) if whole else None
