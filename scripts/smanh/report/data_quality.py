"""The data-quality section of the report: ``data_quality.csv`` as one wide table per
section, counts suppressed."""

from __future__ import annotations

import pandas as pd

from smanh.ingest.data_quality import COUNT_STATISTICS
from smanh.report.display import format_number, suppress_count

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
