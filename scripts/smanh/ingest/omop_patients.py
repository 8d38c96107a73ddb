"""The patients table of the OMOP route (:mod:`smanh.ingest.omop`): ``person``, the SMA
type and diagnosis from ``condition_occurrence``, SMN2 copies from ``measurement``, onset and
diagnosis dates from ``observation``, enrolment and last contact from ``observation_period``
(first start, last end), death from ``death``. Each cell remembers its OMOP table, column and
row id; a person with two SMA types, two SMN2 copy numbers or two death dates is a finding
of that patient (excluded with ``on_invalid: exclude``, as any invalid patient)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.ingest.export_format import TABLES
from smanh.ingest.omop_sql import OmopError
from smanh.ingest.omop_text import birth_texts, constant, number_texts
from smanh.ingest.problems import Finding
from smanh.ingest.readers import RawTable

UNKNOWN_TYPE = "unknown"
TWO_TYPES_RULE = "person has conditions of more than one SMA type"
TWO_SMN2_RULE = "person has more than one SMN2 copy number"
TWO_DEATHS_RULE = "person has more than one death date"
PATIENT_SOURCES = {  # canonical column -> (OMOP table, column) where its value is read
    "patient_id": ("person", "person_source_value"),
    "sex": ("person", "gender_concept_id"),
    "birth_date": ("person", "year_of_birth, month_of_birth, day_of_birth"),
    "sma_type": ("condition_occurrence", "condition_concept_id"),
    "smn2_copies": ("measurement", "value_as_number"),
    "onset_date": ("observation", "observation_date"),
    "diagnosis_date": ("observation", "observation_date"),
    "enrolment_date": ("observation_period", "observation_period_start_date"),
    "last_contact_date": ("observation_period", "observation_period_end_date"),
    "death_date": ("death", "death_date"),
    "site": ("care_site", "care_site_source_value"),
}
ROW_KEYS = {  # OMOP table -> its row id column
    "person": "person_id",
    "condition_occurrence": "condition_occurrence_id",
    "procedure_occurrence": "procedure_occurrence_id",
    "observation": "observation_id",
    "measurement": "measurement_id",
    "observation_period": "observation_period_id",
    "drug_exposure": "drug_exposure_id",
    "care_site": "care_site_id",
    "death": "person_id",  # death has no id of its own
}



def read_patients(reader) -> RawTable:
    """The patients table: one row per cohort person (``reader``: the OMOP reader, with
    the database, schemas, mapping and resolved concepts); keeps the cohort's patient ids
    on the reader for the other tables."""
    site = reader.spec["patients"]["site"]
    care_site_id = "COALESCE(CAST(p.care_site_id AS BIGINT), -1)" if site != "none" else "-1"
    # birth date parts as numbers (NULL flagged), turned into text per distinct date
    persons = reader.query(
        "person",
        "SELECT CAST(p.person_id AS BIGINT) AS person_id, c.patient_id, "
        "COALESCE(CAST(p.gender_concept_id AS BIGINT), 0) AS gender_concept_id, "
        "COALESCE(CAST(p.year_of_birth AS BIGINT), 0) AS year, COALESCE(CAST(p.month_of_birth AS BIGINT), 0) AS month, "
        "COALESCE(CAST(p.day_of_birth AS BIGINT), 0) AS day, "
        "COALESCE(CAST(CAST(p.birth_datetime AS DATE) - DATE '1970-01-01' AS BIGINT), 0) AS birth_day, "
        "(CASE WHEN p.year_of_birth IS NULL THEN 1 ELSE 0 END + CASE WHEN p.month_of_birth IS NULL THEN 2 ELSE 0 "
        "END + CASE WHEN p.day_of_birth IS NULL THEN 4 ELSE 0 END + CASE WHEN p.birth_datetime IS NULL THEN 8 "
        f"ELSE 0 END) AS missing, {care_site_id} AS care_site_id "
        f"FROM {reader.cdm}.person p JOIN cohort c ON c.person_id = p.person_id ORDER BY p.person_id",
    )
    n = len(persons)
    if not n:
        raise OmopError(f"the cohort is empty: no person of {reader.db.label} has a condition_occurrence of the "
                        f"SMA type concepts of the mapping '{reader.mapping_name}' (patients.sma_type)")
    person_ids = persons["person_id"].to_numpy(dtype=np.int64)
    patients = _PatientColumns(n, person_ids, reader.spec["patients"])
    patients.set_all("patient_id", persons["patient_id"].to_numpy(dtype=object))
    patients.set_all("birth_date", birth_texts(persons[["year", "month", "day", "birth_day", "missing"]]))
    patients.set_all("sex", _sex(reader, persons["gender_concept_id"]))
    if site != "none":
        sites = reader.query(  # only the cohort's care sites
            "care_site",
            f"SELECT CAST(s.care_site_id AS BIGINT) AS care_site_id, "
            f"COALESCE(TRIM(CAST(s.{site} AS VARCHAR)), '') AS site FROM {reader.cdm}.care_site s "
            f"WHERE s.care_site_id IN (SELECT p.care_site_id FROM {reader.cdm}.person p "
            f"JOIN cohort c ON c.person_id = p.person_id)",
        )
        site_ids = persons["care_site_id"].to_numpy(dtype=np.int64)
        known = site_ids >= 0
        names = dict(zip(sites["care_site_id"].astype(np.int64), sites["site"]))
        codes, distinct = pd.factorize(site_ids)
        patients.set_all("site", np.array([names.get(i, "") for i in distinct], dtype=object)[codes])
        patients.lines["site"][known] = site_ids[known]
        patients.keys["site"][known] = "care_site_id"
    index = pd.Index(person_ids)
    reader.person_index, reader.patient_ids = index, persons["patient_id"].to_numpy(dtype=object)
    _sma_types(reader, patients, index)
    _smn2(reader, patients, index)
    for column in ("onset_date", "diagnosis_date"):
        if isinstance(reader.spec["patients"].get(column), dict):
            _observed_date(reader, patients, index, column)
    _observation_periods(reader, patients, index)
    _deaths(reader, patients, index)
    return patients.table()


def _sex(reader, gender_ids: pd.Series) -> np.ndarray:
    sexes = {cid: value for cid, value, _ in reader.values("patients.sex")}
    codes, distinct = pd.factorize(gender_ids.fillna(0).astype(np.int64))
    # 0 = "No matching concept": unknown (blank); an unmapped concept shows as its id.
    texts = [sexes.get(i, "" if i == 0 else str(i)) for i in distinct]
    return np.array(texts, dtype=object)[codes]


def _sma_types(reader, patients: _PatientColumns, index: pd.Index) -> None:
    rows = reader.query(
        "condition_occurrence",
        "SELECT person_id, value AS sma_type, condition_occurrence_id, start_date FROM ("
        "SELECT CAST(co.person_id AS BIGINT) AS person_id, m.value, "
        "CAST(co.condition_occurrence_id AS BIGINT) AS condition_occurrence_id, "
        "CAST(co.condition_start_date AS VARCHAR) AS start_date, ROW_NUMBER() OVER (PARTITION BY co.person_id, "
        "m.value ORDER BY co.condition_start_date, co.condition_occurrence_id) AS rank "
        f"FROM {reader.cdm}.condition_occurrence co JOIN sma m ON co.condition_concept_id = m.concept_id "
        "JOIN cohort c ON c.person_id = co.person_id) t WHERE rank = 1 "
        "ORDER BY person_id, start_date, condition_occurrence_id",
        reader.map_cte("sma", reader.values("patients.sma_type")),
    )
    positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
    types = rows["sma_type"].to_numpy(dtype=object)
    ids = rows["condition_occurrence_id"].to_numpy(dtype=np.int64)
    starts = rows["start_date"].to_numpy(dtype=object)
    # Rows are sorted by person, then date: a person's first row is their earliest.
    first = np.r_[True, positions[1:] != positions[:-1]] if len(rows) else np.zeros(0, bool)
    if reader.spec["patients"].get("diagnosis_date") == "condition_occurrence":
        patients.set("diagnosis_date", positions[first], starts[first], ids[first],
                     "condition_occurrence", "condition_start_date")
    counts = np.bincount(positions, minlength=len(index)) if len(rows) else np.zeros(len(index), int)
    single = counts[positions] == 1
    patients.set("sma_type", positions[single], types[single], ids[single], "condition_occurrence")
    for position in np.unique(positions[~single]):
        mine = np.flatnonzero(positions == position)
        chosen = most_specific([types[i] for i in mine])
        rows_of = {types[i]: i for i in reversed(mine)}  # each type's (only) row
        first_chosen = rows_of[chosen[0]]
        patients.set("sma_type", np.array([position]), np.array([chosen[0]], dtype=object),
                     np.array([ids[first_chosen]]), "condition_occurrence")
        if len(chosen) > 1:
            listed = "; ".join(f"{t} (condition_occurrence_id={ids[rows_of[t]]})" for t in chosen)
            patients.findings.append(Finding("patients", int(position), "sma_type", listed, TWO_TYPES_RULE))


def _smn2(reader, patients: _PatientColumns, index: pd.Index) -> None:
    values = reader.values("patients.smn2_copies")
    if not values:
        return
    ids = ", ".join(str(cid) for cid, _, _ in values)
    rows = reader.query(
        "measurement",
        "SELECT CAST(m.person_id AS BIGINT) AS person_id, CAST(m.value_as_number AS DOUBLE PRECISION) AS value, "
        "MIN(CAST(m.measurement_id AS BIGINT)) AS measurement_id "
        f"FROM {reader.cdm}.measurement m JOIN cohort c ON c.person_id = m.person_id "
        f"WHERE m.measurement_concept_id IN ({ids}) AND m.value_as_number IS NOT NULL "
        "GROUP BY m.person_id, m.value_as_number ORDER BY person_id, measurement_id",
    )
    texts = number_texts(rows["value"].to_numpy(dtype=float))
    _one_per_person(reader, patients, index, rows["person_id"], texts, rows["measurement_id"], "smn2_copies",
                         "measurement", TWO_SMN2_RULE)


def _deaths(reader, patients: _PatientColumns, index: pd.Index) -> None:
    rows = reader.query(
        "death",
        "SELECT CAST(d.person_id AS BIGINT) AS person_id, CAST(d.death_date AS VARCHAR) AS death_date "
        f"FROM {reader.cdm}.death d JOIN cohort c ON c.person_id = d.person_id "
        "GROUP BY d.person_id, d.death_date ORDER BY person_id, death_date",
    )
    _one_per_person(reader, patients, index, rows["person_id"], rows["death_date"].to_numpy(dtype=object),
                         rows["person_id"], "death_date", "death", TWO_DEATHS_RULE)


def _one_per_person(reader, patients, index, person_ids, texts, row_ids, column, table, rule) -> None:
    """A value each person has at most one of; different values are a problem."""
    positions = index.get_indexer(person_ids.to_numpy(dtype=np.int64))
    row_ids = row_ids.to_numpy(dtype=np.int64)
    first = np.r_[True, positions[1:] != positions[:-1]] if len(positions) else np.zeros(0, bool)
    patients.set(column, positions[first], texts[first], row_ids[first], table)
    key = ROW_KEYS[table]
    for position in np.unique(positions[~first]):
        mine = np.flatnonzero(positions == position)
        listed = "; ".join(f"{texts[i]} ({key}={row_ids[i]})" for i in mine)
        patients.findings.append(Finding("patients", int(position), column, listed, rule))


def _observed_date(reader, patients: _PatientColumns, index: pd.Index, column: str) -> None:
    values = reader.values(f"patients.{column}")
    if not values:
        return
    ids = ", ".join(str(cid) for cid, _, _ in values)
    rows = reader.query(
        "observation",
        "SELECT person_id, observation_date, observation_id FROM ("
        "SELECT CAST(o.person_id AS BIGINT) AS person_id, CAST(o.observation_date AS VARCHAR) AS observation_date, "
        "CAST(o.observation_id AS BIGINT) AS observation_id, ROW_NUMBER() OVER (PARTITION BY o.person_id "
        "ORDER BY o.observation_date, o.observation_id) AS rank "
        f"FROM {reader.cdm}.observation o JOIN cohort c ON c.person_id = o.person_id "
        f"WHERE o.observation_concept_id IN ({ids})) t WHERE rank = 1 ORDER BY person_id",
    )
    positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
    patients.set(column, positions, rows["observation_date"].to_numpy(dtype=object),
                 rows["observation_id"].to_numpy(dtype=np.int64), "observation")


def _observation_periods(reader, patients: _PatientColumns, index: pd.Index) -> None:
    rows = reader.query(
        "observation_period",
        "SELECT person_id, start_date, start_id, end_date, end_id FROM ("
        "SELECT CAST(op.person_id AS BIGINT) AS person_id, "
        "CAST(op.observation_period_start_date AS VARCHAR) AS start_date, "
        "CAST(op.observation_period_id AS BIGINT) AS start_id, "
        "FIRST_VALUE(CAST(op.observation_period_end_date AS VARCHAR)) OVER latest AS end_date, "
        "FIRST_VALUE(CAST(op.observation_period_id AS BIGINT)) OVER latest AS end_id, "
        "ROW_NUMBER() OVER (PARTITION BY op.person_id ORDER BY op.observation_period_start_date, "
        "op.observation_period_id) AS rank "
        f"FROM {reader.cdm}.observation_period op JOIN cohort c ON c.person_id = op.person_id "
        "WINDOW latest AS (PARTITION BY op.person_id ORDER BY op.observation_period_end_date DESC, "
        "op.observation_period_id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        ") t WHERE rank = 1 ORDER BY person_id",
    )
    positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
    patients.set("enrolment_date", positions, rows["start_date"].to_numpy(dtype=object),
                 rows["start_id"].to_numpy(dtype=np.int64), "observation_period")
    patients.set("last_contact_date", positions, rows["end_date"].to_numpy(dtype=object),
                 rows["end_id"].to_numpy(dtype=np.int64), "observation_period")


def most_specific(types: list[str]) -> list[str]:
    """The SMA types no other of ``types`` refines (``unknown`` < ``2`` < ``2a``), in the
    order given (earliest diagnosis first)."""
    def refines(finer: str, coarser: str) -> bool:
        return finer != coarser and (coarser == UNKNOWN_TYPE or finer.startswith(coarser))

    kept = [t for t in types if not any(refines(other, t) for other in types)]
    return list(dict.fromkeys(kept))


class _PatientColumns:
    """The patients table being built: per column the text, the row id, the OMOP table
    and its key of every cell (a cell without a value points at the person)."""

    def __init__(self, n: int, person_ids: np.ndarray, spec: dict):
        self.n, self.person_ids = n, person_ids
        self.columns = [c.name for c in TABLES["patients"].columns]
        self.values = {c: constant(n, "") for c in self.columns}
        self.lines = {c: person_ids.copy() for c in self.columns}
        self.keys = {c: constant(n, "person_id") for c in self.columns}
        sources = dict(PATIENT_SOURCES)
        sources["patient_id"] = ("person", spec["patient_id"])
        if spec["site"] != "none":
            sources["site"] = ("care_site", spec["site"])
        if spec.get("diagnosis_date") == "condition_occurrence":
            sources["diagnosis_date"] = ("condition_occurrence", "condition_start_date")
        self.sources = sources
        self.findings: list[Finding] = []

    def set_all(self, column: str, values: np.ndarray) -> None:
        self.values[column] = values

    def set(self, column: str, positions: np.ndarray, values: np.ndarray, row_ids: np.ndarray, table: str,
            source_column: str = "") -> None:
        self.values[column][positions] = values
        self.lines[column][positions] = row_ids
        self.keys[column][positions] = ROW_KEYS[table]
        if source_column:
            self.sources[column] = (table, source_column)

    def table(self) -> RawTable:
        data = pd.DataFrame(self.values, columns=self.columns, copy=False)
        table = RawTable("patients", "person", data, self.person_ids.copy(), key="person_id",
                         cell_lines=self.lines, findings=self.findings)
        for column in self.columns:
            source_table, source_column = self.sources[column]
            table.column_names[column] = source_column
            table.cell_files[column] = constant(self.n, source_table)
            table.cell_keys[column] = self.keys[column]
        return table
