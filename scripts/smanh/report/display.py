"""Numbers as the report shows them: counts through small-cell suppression
(:mod:`smanh.disclosure`), estimates rounded, not-estimable values as a dash; Table 1 and the
published comparison laid out for reading."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import pandas as pd
from markupsafe import Markup, escape

from smanh.disclosure import show_count, show_group
from smanh.disclosure.release import plain_notes
from smanh.figures.forest import level_label, term_label  # noqa: F401 (the report's labels)

COUNT_COLUMNS = ("n", "events", "at_risk")


def suppress_count(value, min_cell_count: int) -> str:
    """A count as shown in the report: ``<min`` below the threshold."""
    return show_count(value, min_cell_count)


def format_number(value, digits: int = 2) -> str:
    """Estimates to ``digits`` decimals; not reached / not estimable as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.00"


def format_p(value) -> str:
    """A p-value as a reader expects it: ``< 0.001`` below a thousandth, else 3 decimals
    (2 from 0.1 on); missing as an em dash."""
    if value is None or pd.isna(value):
        return "—"
    value = float(value)
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def format_integer(value) -> str:
    """Degrees of freedom, strata, taus: whole numbers without decimals."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value):,.0f}"


P_COLUMNS = ("p", "ph_p", "ph_global_p", "difference_p", "PH test p")
INTEGER_COLUMNS = ("df", "strata", "tau")


def display_table(
    frame: pd.DataFrame, min_cell_count: int, digits: int = 2, groups: list[str] | None = None
) -> pd.DataFrame:
    """The table with counts suppressed and estimates rounded, all as text; p-values as
    ``< 0.001``, degrees of freedom as integers, missing values as an em dash (a missing
    note as nothing).

    ``groups``: columns whose rows' counts add up to a total shown too (strata of one
    stratification, steps of one endpoint); within each, complementary suppression.
    """
    shown = frame.copy().astype(object)
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            shown[column] = _counts_shown(frame, column, min_cell_count, groups)
        elif column == "note":
            shown[column] = ["" if _is_missing(v) else v for v in frame[column]]
        elif column in P_COLUMNS and pd.api.types.is_numeric_dtype(frame[column]):
            shown[column] = [format_p(v) for v in frame[column]]
        elif column in INTEGER_COLUMNS and pd.api.types.is_numeric_dtype(frame[column]):
            shown[column] = [format_integer(v) for v in frame[column]]
        elif pd.api.types.is_float_dtype(frame[column]):
            shown[column] = [format_number(v, digits) for v in frame[column]]
        else:
            blank = "" if column == "note" else "—"
            shown[column] = [blank if v is None or (isinstance(v, float) and math.isnan(v)) else v
                             for v in frame[column]]
    return shown



def _counts_shown(frame: pd.DataFrame, column: str, min_cell_count: int, groups) -> list[str]:
    if not groups:
        return [show_count(v, min_cell_count) for v in frame[column]]
    shown = pd.Series("", index=frame.index, dtype=object)
    for _, rows in frame.groupby(groups, sort=False):
        shown[rows.index] = show_group(list(rows[column]), min_cell_count)
    return list(shown)


def ci(estimate, lo, hi, digits: int = 2) -> str:
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return "—"
    return f"{format_number(estimate, digits)} ({format_number(lo, digits)} to {format_number(hi, digits)})"


def embed_figure(path: str | Path) -> str:
    """A figure's SVG as a data URI for an ``<img>``: vector in the report and its PDF, and
    in a document of its own (inline, the figures' element ids could clash)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/svg+xml;base64,{data}"


TABLE1_LABELS = {
    "patients": "Patients", "sex": "Sex", "smn2_copies": "SMN2 copies",
    "age_at_onset": "Age at onset, years", "age_at_diagnosis": "Age at diagnosis, years",
    "age_at_enrolment": "Age at enrolment, years", "follow_up_years": "Follow-up, years",
    "person_years": "Person-years of follow-up", "treated": "Treated (disease-modifying)",
    "age_at_first_treatment": "Age at first treatment, years", "died": "Died",
}


def table1_display(table1: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Table 1 as shown: n (%) or median [Q1–Q3] (n known) per SMA type group column;
    levels of one characteristic add up to the column's patients, so small cells get
    complementary suppression."""
    groups = list(dict.fromkeys(table1["sma_type"]))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for (characteristic, group), rows in table1.groupby(["characteristic", "sma_type"], sort=False):
        counted = rows["level"] != "median_iqr"
        shown = show_group(list(rows["n"]), min_cell_count) if counted.all() and characteristic in (
            "sex", "smn2_copies") else [show_count(n, min_cell_count) for n in rows["n"]]
        for r, n_shown in zip(rows.itertuples(), shown):
            cells.setdefault((characteristic, r.level), {})[group] = _table1_cell(r, n_shown)
    rows = []
    for (characteristic, level), values in cells.items():
        label = TABLE1_LABELS.get(characteristic, characteristic)
        if level not in ("all", "median_iqr", "sum", "yes"):
            label = f"{label}: {level.replace('_', ' ')}"
        rows.append({"characteristic": label, **{f"type {g}" if g != "all" else "all": values.get(g, "") for g in groups}})
    return pd.DataFrame(rows)


def _table1_cell(r, n_shown: str) -> str:
    if r.level == "median_iqr":
        if pd.isna(r.median):
            return "—"
        return f"{r.median:.2f} [{r.q1:.2f}–{r.q3:.2f}]"
    if r.characteristic == "person_years":
        return f"{r.median:,.1f}"
    if r.characteristic == "patients" or n_shown.startswith(("<", "≈")):
        return n_shown
    return f"{n_shown} ({r.percent:.1f}%)"


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """Published point beside our estimate with its CI."""
    return pd.DataFrame({
        "source": comparison["source"],
        "quantity": [_quantity(r) for r in comparison.itertuples()],
        "SMA type": comparison["sma_type"],
        "published": [format_number(v, 2) for v in comparison["published"]],
        "this registry (95% CI)": [
            "—" if pd.isna(e) else (ci(e, lo, hi) if not pd.isna(lo) else format_number(e, 2))
            for e, lo, hi in zip(comparison["estimate"], comparison["lo"], comparison["hi"])
        ],
        "note": comparison["note"].fillna(""),
    })


def _quantity(r) -> str:
    what = r.endpoint_or_scale.replace("_", " ")
    if r.measure == "survival":
        return f"free of {what} {r.time_years:.2f} y after {r.time_origin}"
    if r.measure == "slope":
        return f"{what} slope, {r.unit}"
    return f"{what} 12-month change, {'mean' if r.measure.endswith('mean') else 'SD'}"


# Notes in a table cell as a short phrase; the whole note becomes a numbered footnote under
# the table, so rows stay one line high. First match wins; otherwise the note's opening words.
NOTE_PHRASES = (
    (re.compile(r"^never .*?patients at risk at once"), "not estimable"),
    (re.compile(r"^landmark age\(s\)"), "landmarks outside range"),
    (re.compile(r"^fewer than \S+ events"), "too few events"),
    (re.compile(r"^fewer than \S+ patients"), "too few patients"),
    (re.compile(r"^not fitted"), "not fitted"),
    (re.compile(r"^singular fit"), "singular fit"),
    (re.compile(r"^random intercept only"), "random intercept only"),
    (re.compile(r"left out"), "some left out"),
)
SHORT_NOTE = 28


def note_phrase(note: str) -> str:
    """A note's short phrase for a table cell (the note itself is the footnote)."""
    if len(note) <= SHORT_NOTE:
        return note
    for pattern, phrase in NOTE_PHRASES:
        if pattern.search(note):
            return phrase
    words = re.split(r"[:;(]", note, maxsplit=1)[0].split()
    return " ".join(words[:4]) + "…"


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("nan", "none", "<na>", "nat")


def tabulate(frame: pd.DataFrame | None, source: str | None = None, text_columns: int = 2,
             min_cell_count: int = 5, share_folder: str = "results/share") -> Markup:
    """A display table as HTML: headers without underscores, no ``nan`` (a dash; a missing
    note blank), each note shortened to a phrase with its whole text as a numbered footnote
    (counts in notes below ``min_cell_count`` written "fewer than T"), and a caption naming the
    CSV the numbers are in (``results/share/<source>.csv``)."""
    if frame is None or len(frame) == 0:
        return Markup("")
    columns = list(frame.columns)
    footnotes: list[str] = []
    text_class = ' class="text"'
    lines = ["<table>", "<tr>" + "".join(
        f'<th{text_class if i < text_columns or c == "note" else ""}>{escape(str(c).replace("_", " "))}</th>'
        for i, c in enumerate(columns)) + "</tr>"]
    notes = plain_notes(frame["note"], min_cell_count) if "note" in frame else None
    for position, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for i, (column, value) in enumerate(zip(columns, row)):
            cls = ' class="text"' if i < text_columns or column == "note" else ""
            if column == "note":
                note = notes.iloc[position]
                text = "" if _is_missing(note) else str(note).strip()
                if text and note_phrase(text) != text:
                    if text not in footnotes:
                        footnotes.append(text)
                    number = footnotes.index(text) + 1
                    cells.append(f"<td{cls}>{escape(note_phrase(text))}<sup>{number}</sup></td>")
                else:
                    cells.append(f"<td{cls}>{escape(text)}</td>")
            else:
                cells.append(f"<td{cls}>{'—' if _is_missing(value) else escape(str(value))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    if footnotes:
        # one run-on paragraph, not a list: a line per note would double an endpoint's page
        lines.append('<p class="footnotes">' + " ".join(
            f'<span class="footnote"><sup>{i}</sup> {escape(f.rstrip("."))}.</span>' for i, f in enumerate(footnotes, start=1))
            + "</p>")
    if source:
        lines.append(f'<p class="source">{escape(share_folder)}/{escape(source)}.csv</p>')
    return Markup("\n".join(lines))
