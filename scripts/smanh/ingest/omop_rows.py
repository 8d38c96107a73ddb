"""The events, treatments and assessments tables of the OMOP route
(:mod:`smanh.ingest.omop`). The large tables travel from the database as numbers (the
patient's position in the cohort, days since 1970, value codes, scores, row ids) and become
text once per distinct value (:mod:`smanh.ingest.omop_text`); each row remembers its OMOP
table and row id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.ingest.omop_text import day_texts, number_texts, sorted_rows
from smanh.ingest.readers import RawTable

# OMOP tables that can hold events: (date column, concept column, id column).
EVENT_TABLES = {
    "condition_occurrence": ("condition_start_date", "condition_concept_id", "condition_occurrence_id"),
    "procedure_occurrence": ("procedure_date", "procedure_concept_id", "procedure_occurrence_id"),
    "observation": ("observation_date", "observation_concept_id", "observation_id"),
}


def read_events(reader) -> RawTable:
    """The events table: rows of the mapped concepts in condition_occurrence,
    procedure_occurrence and observation, numbers only, in (table, row id) order."""
    values = reader.values("events.")
    events = sorted({value for _, value, _ in values})
    sources = list(EVENT_TABLES)
    parts = []
    for number, (table, (date, concept, key)) in enumerate(EVENT_TABLES.items()):
        if not any(v[2] == table for v in values):
            continue
        parts.append(
            f"SELECT c.position, m.code AS event, "
            f"CAST(t.{date} - DATE '1970-01-01' AS INTEGER) AS day, {number} AS source, "
            f"CAST(t.{key} AS BIGINT) AS row_id FROM {reader.cdm}.{table} t "
            f"JOIN events_{table} m ON t.{concept} = m.concept_id JOIN cohort c ON c.person_id = t.person_id"
        )
    ctes = [reader.code_cte(f"events_{t}", [v for v in values if v[2] == t], events) for t in sources
            if any(v[2] == t for v in values)]
    columns = ["patient_id", "event", "date"]
    if not parts:
        return raw_table("events", "observation", pd.DataFrame({c: [] for c in columns}, dtype=object), np.zeros(0, int))
    rows = reader.db.arrays(f"WITH {', '.join([reader.cohort(), *ctes])} SELECT * FROM ("
                          f"{' UNION ALL '.join(parts)}) e")
    rows = sorted_rows(rows, "source", "row_id")
    source_code = rows["source"].astype(np.int64)
    for number, n in zip(*np.unique(source_code, return_counts=True)):
        reader.rows_read[sources[number]] = reader.rows_read.get(sources[number], 0) + int(n)
    data = pd.DataFrame({
        "patient_id": reader.patient_ids[np.asarray(rows["position"], dtype=np.intp)],
        "event": np.array(events, dtype=object)[rows["event"].astype(np.int64)],
        "date": day_texts(rows["day"]),
    }, columns=columns, copy=False)
    table = raw_table("events", "observation", data, rows["row_id"])
    table.column_names["patient_id"] = "person_id"
    pick = lambda values: np.array(values, dtype=object)[source_code]  # noqa: E731
    source = pick(sources)
    keys = pick([EVENT_TABLES[s][2] for s in sources])
    for column in ("", *columns):
        table.cell_files[column] = source
        table.cell_keys[column] = keys
    table.cell_columns["event"] = pick([EVENT_TABLES[s][1] for s in sources])
    table.cell_columns["date"] = pick([EVENT_TABLES[s][0] for s in sources])
    return table


def read_treatments(reader) -> RawTable:
    """The treatments table: drug_exposure rows of a drug of a mapped ingredient."""
    columns = ["patient_id", "treatment", "start_date", "end_date"]
    values = reader.values("treatments.")
    end_column = reader.spec["treatments"]["end_date"]
    if not values:
        return raw_table("treatments", "drug_exposure", pd.DataFrame({c: [] for c in columns}, dtype=object),
                    np.zeros(0, int), "drug_exposure_id")
    end = f"COALESCE(CAST(de.{end_column} AS VARCHAR), '')" if end_column != "none" else "''"
    rows = reader.query(
        "drug_exposure",
        f"SELECT c.patient_id, d.value AS treatment, CAST(de.drug_exposure_start_date AS VARCHAR) AS start_date, "
        f"{end} AS end_date, CAST(de.drug_exposure_id AS BIGINT) AS drug_exposure_id "
        f"FROM {reader.cdm}.drug_exposure de JOIN drugs d ON de.drug_concept_id = d.concept_id "
        "JOIN cohort c ON c.person_id = de.person_id ORDER BY de.person_id, start_date, drug_exposure_id, treatment",
        reader.map_cte("ingredients", values),
        # a drug of an ingredient: the ingredient itself or any descendant (clinical drugs)
        f"drugs AS (SELECT DISTINCT a.descendant_concept_id AS concept_id, i.value FROM "
        f"{reader.vocab}.concept_ancestor a JOIN ingredients i ON a.ancestor_concept_id = i.concept_id "
        "UNION SELECT concept_id, value FROM ingredients)",
    )
    table = raw_table("treatments", "drug_exposure", rows[columns], rows["drug_exposure_id"].to_numpy(dtype=np.int64),
                 "drug_exposure_id")
    table.column_names.update(patient_id="person_id", treatment="drug_concept_id",
                              start_date="drug_exposure_start_date", end_date=end_column)
    return table


def read_assessments(reader) -> RawTable:
    """The assessments table: measurement rows of the mapped scales, numbers only."""
    columns = ["patient_id", "date", "scale", "score"]
    values = reader.values("assessments.")
    if not values:
        return raw_table("assessments", "measurement", pd.DataFrame({c: [] for c in columns}, dtype=object),
                    np.zeros(0, int), "measurement_id")
    scales = sorted({value for _, value, _ in values})
    # Numbers only: a million assessments become text from their few distinct values.
    rows = reader.db.arrays(
        f"WITH {reader.cohort()}, {reader.code_cte('scales', values, scales)} "
        "SELECT c.position, "
        "CAST(me.measurement_date - DATE '1970-01-01' AS INTEGER) AS day, s.code AS scale, "
        "CAST(me.value_as_number AS DOUBLE PRECISION) AS score, CAST(me.measurement_id AS BIGINT) AS row_id "
        f"FROM {reader.cdm}.measurement me JOIN scales s ON me.measurement_concept_id = s.concept_id "
        "JOIN cohort c ON c.person_id = me.person_id"
    )
    rows = sorted_rows(rows, "row_id")  # in measurement_id order, whatever order the scan gave
    reader.rows_read["measurement"] = reader.rows_read.get("measurement", 0) + len(rows["row_id"])
    score = rows["score"]
    score = score.filled(np.nan) if np.ma.isMaskedArray(score) else score.astype(float)
    data = pd.DataFrame({
        "patient_id": reader.patient_ids[np.asarray(rows["position"], dtype=np.intp)],
        "date": day_texts(rows["day"]),
        "scale": np.array(scales, dtype=object)[rows["scale"].astype(np.int64)],
        "score": number_texts(score),
    }, columns=columns, copy=False)
    table = raw_table("assessments", "measurement", data, rows["row_id"], "measurement_id")
    table.column_names.update(patient_id="person_id", date="measurement_date", scale="measurement_concept_id",
                              score="value_as_number")
    return table


def raw_table(name: str, file: str, data: pd.DataFrame, lines: np.ndarray, key: str = "") -> RawTable:
    """A raw table of text cells; the queries give '' for NULL (COALESCE), never NaN."""
    return RawTable(name, file, data, np.asarray(lines, dtype=np.int64), key=key)
