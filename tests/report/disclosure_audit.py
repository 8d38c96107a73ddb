"""An independent check of what is released (results/share/, the report): written from the
rules, not from the code that applies them, and used by the tests on the sample and on
small registries.

* every count is 0, at least the threshold, ``<T`` or a rounded ``≈`` value;
* no exact count differs by 1 to T − 1 from another exact count it is a part or margin of
  (strata and their endpoint's ``all``; the n of tests and models and their endpoint's n;
  the reasons and total of a cohort-flow step; Table 1 levels and their column; the three
  12-month categories and their pairs; the strata of one 12-month stratification and
  the total of another);
* within any group whose total is released, never exactly one cell is hidden;
* curves hold no row with fewer than T at risk, no stratum with fewer than T events, and no
  age that is not on the release grid;
* notes hold no number below the threshold.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

COUNT = re.compile(r"^(?:0|<\d+|≈[\d,]+|[\d,]+)$")


def value(cell) -> float | None:
    """An exact count as a number; None for hidden, rounded or blank cells."""
    text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
    if not text or text.startswith(("<", "≈")):
        return None
    return float(text.replace(",", ""))


def audit(released: dict[str, pd.DataFrame], threshold: int) -> list[str]:
    problems: list[str] = []

    def check_cell(table, column, cell):
        text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
        if text and not COUNT.match(text):
            problems.append(f"{table}.{column}: {text!r} is not a released count")
        exact = value(cell)
        if exact is not None and 0 < exact < threshold:
            problems.append(f"{table}.{column}: {text} is below {threshold}")

    for name, table in released.items():
        for column in table.columns:
            if column in ("n", "events", "at_risk", "total") or (column.startswith("n_") and column != "n_iterations"):
                for cell in table[column]:
                    check_cell(name, column, cell)
        if name == "data_quality":  # counts and statistics of patients in one value column
            patients = table["statistic"] == "patients"
            for row in table[patients].itertuples(index=False):
                check_cell(name, f"value ({row.section} {row.table} {row.field} patients)", row.value)
                if value(row.value) is None and str(row.value) not in ("", "nan", "None"):
                    same = table[(table["section"] == row.section) & (table["table"] == row.table)
                                 & (table["field"] == row.field) & ~patients]
                    if (~same["value"].astype(str).isin(["", "nan", "None"])).any():
                        problems.append(f"data_quality {row.section} {row.table} {row.field}: numbers "
                                        "released for fewer than the threshold of patients")
        if "note" in table:
            for note in table["note"].dropna().astype(str):
                for number in re.findall(r"(?<![\w.])(\d+)(?: (?:patients?|events?|with))", note):
                    if 0 < int(number) < threshold:
                        problems.append(f"{name}.note: {note!r} holds a count below {threshold}")

    def differences(label, parts, totals):
        for part in parts:
            for total in totals:
                if part is not None and total is not None and 0 < abs(total - part) < threshold:
                    problems.append(f"{label}: {part:g} beside {total:g}")

    def lone_hidden(label, cells, total):
        """A group of cells adding up to ``total``: one hidden cell is recoverable when the
        total is shown exactly."""
        if value(total) is None:
            return
        hidden = [c for c in cells if value(c) is None and str(c).strip() not in ("", "nan")]
        if len(hidden) == 1:
            problems.append(f"{label}: one hidden cell in a group whose total is shown")

    summary = released.get("km_summary")
    if summary is not None and len(summary):
        for endpoint, rows in summary.groupby("endpoint"):
            for column in ("n", "events"):
                total = rows.loc[rows["stratify_by"] == "all", column]
                for by, strata in rows[rows["stratify_by"] != "all"].groupby("stratify_by"):
                    if len(total):
                        lone_hidden(f"km_summary {endpoint} {by} {column}", list(strata[column]), total.iloc[0])
                for other in ("km_tests", "cox", "rmst", "parametric"):
                    table = released.get(other)
                    if table is not None and column in table and len(table):
                        parts = [value(v) for v in table.loc[table["endpoint"] == endpoint, column]]
                        references = [value(v) for v in rows[column]]
                        differences(f"{other} {endpoint} {column}", parts, references)
    flow = released.get("cohort_flow")
    if flow is not None:
        validated = flow.loc[flow["step"] == "validated", "n"]
        for endpoint, rows in flow.groupby("endpoint"):
            if endpoint != "all" and len(validated):
                lone_hidden(f"cohort_flow {endpoint}", list(rows.loc[rows["step"].isin(["excluded", "analysed"]), "n"]),
                            validated.iloc[0])
    table1 = released.get("table1")
    if table1 is not None:
        counted = table1[~table1["level"].isin(["median_iqr", "sum"])]
        patients = table1[table1["characteristic"] == "patients"].set_index("sma_type")["n"]
        for (characteristic, column), rows in counted.groupby(["characteristic", "sma_type"]):
            if characteristic in ("sex", "smn2_copies"):
                lone_hidden(f"table1 {characteristic} {column}", list(rows["n"]), patients.get(column))
        for (characteristic, level), rows in counted[counted["sma_type"] != "all"].groupby(["characteristic", "level"]):
            total = counted.loc[(counted["characteristic"] == characteristic) & (counted["level"] == level)
                                & (counted["sma_type"] == "all"), "n"]
            if len(total):
                lone_hidden(f"table1 {characteristic} {level}", list(rows["n"]), total.iloc[0])
        hidden = table1["n"].astype(str).str.startswith(("<", "≈"))
        if (table1.loc[hidden, "percent"].astype(str).str.strip().replace("nan", "") != "").any():
            problems.append("table1: a percentage beside a hidden count")
    change = released.get("change_12m")
    if change is not None:
        for row in change.itertuples():
            lone_hidden(f"change_12m {row.scale} {row.stratum}", [row.n_declined, row.n_stable, row.n_improved],
                        row.n_pairs)
        # the stratifications of a scale (SMA type, baseline-age band...) partition the same
        # pairs: a fully exact one gives the total of the others
        for scale, rows in change.groupby("scale"):
            partitions = {by: list(part["n_pairs"]) for by, part in rows.groupby("stratify_by")}
            for by, cells in partitions.items():
                for other, reference in partitions.items():
                    exact = [value(c) for c in reference]
                    if other != by and all(v is not None for v in exact):
                        lone_hidden(f"change_12m {scale} {by} against {other}", cells, str(int(sum(exact))))
    for name, table in released.items():
        if "age_years" in table and "from_age" in table and len(table):
            at_risk = [value(v) for v in table["at_risk"]]
            if any(v is not None and v < threshold for v in at_risk) or table["at_risk"].astype(str).str.startswith("<").any():
                problems.append(f"{name}: a curve row with fewer than {threshold} at risk")
            if summary is not None and len(summary):
                events = {(r.endpoint, r.stratify_by, str(r.stratum)): value(r.events) for r in summary.itertuples()}
                for key in table[["endpoint", "stratify_by", "stratum"]].astype(str).drop_duplicates().itertuples(index=False):
                    shown = events.get(tuple(key))
                    if shown is not None and shown < threshold:
                        problems.append(f"{name}: a curve of a stratum with fewer than {threshold} events")
            months = table["age_years"].astype(float) * 12
            if not np.allclose(months, np.round(months), atol=1e-4):
                problems.append(f"{name}: curve ages off the monthly grid")
    return problems


# --------------------------------------------------------------------------- the report's HTML
# Table headers whose cells are counts of patients, events or records (Table 1's type columns:
# a count with its percentage, or a statistic with decimals, which is no count).
COUNT_HEADER = re.compile(
    r"^(?:n|events|patients|assessments|rows|at floor|at ceiling|patients ever at (?:floor|ceiling)|"
    r"eligible|matched|trial|registry|all|type .+|n / events)$")
# In running text and notes: a whole number right before a word that counts people or records.
COUNT_IN_TEXT = re.compile(
    r"(?<![\w.,<≈])(\d[\d,]*)(?=(?:\s*\(\d+%\))? (?:patients?|events?|deaths?|records?|rows?|assessments?|pairs?|with)\b)")
P_HEADER = re.compile(r"^(?:p|.* p|p .*)$")
LEADING_COUNT = re.compile(r"^(\d[\d,]*)(?: \(|$)")


def _text(fragment: str) -> str:
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def audit_html(page: str, threshold: int) -> list[str]:
    """Every number the report's HTML shows is 0, at least the threshold, ``<T``, a rounded
    ``≈`` value or a statistic that is no count (a decimal, a percentage, an age, an
    estimate): in every table cell under a count header, in running text and in notes and
    footnotes (a whole number before "patients", "events", ...). No ``nan`` anywhere, no
    p-value printed as 0.000."""
    problems: list[str] = []
    body = re.sub(r'src="data:[^"]+"', "", page)
    body = re.sub(r"<style.*?</style>", "", body, flags=re.S)
    body = re.sub(r"<pre.*?</pre>", "", body, flags=re.S)  # the effective configuration
    for table in re.findall(r"<table[^>]*>.*?</table>", body, flags=re.S):
        headers = [_text(h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S):
            cells = [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
            for header, cell in zip(headers, cells):
                if P_HEADER.match(header) and re.fullmatch(r"0\.0+", cell):
                    problems.append(f"table cell {header!r}: p-value printed as {cell}")
                if not COUNT_HEADER.match(header):
                    continue
                for part in cell.split(" / "):
                    match = LEADING_COUNT.match(part.strip())
                    if match and 0 < int(match.group(1).replace(",", "")) < threshold:
                        problems.append(f"table cell {header!r}: {cell!r} is below {threshold}")
    text = _text(re.sub(r"<svg.*?</svg>", lambda m: _text(m.group(0)), body, flags=re.S))
    for match in COUNT_IN_TEXT.finditer(text):
        number = int(match.group(1).replace(",", ""))
        before = text[max(0, match.start() - 12):match.start()]
        if 0 < number < threshold and not re.search(r"(?:fewer than|at least|least|than)\s*$", before):
            problems.append(f"text: {text[max(0, match.start() - 40):match.end() + 30]!r} holds a count below {threshold}")
    if re.search(r"(?<![\w-])(?:nan|NaN|None)(?![\w-])", text):
        where = re.search(r"(?<![\w-])(?:nan|NaN|None)(?![\w-])", text)
        problems.append(f"'nan' in the report: {text[max(0, where.start() - 60):where.end() + 20]!r}")
    if re.search(r"\bp\s*(?:=\s*)?0\.0+\b", text):
        problems.append("a p-value printed as 0.000")
    return problems
