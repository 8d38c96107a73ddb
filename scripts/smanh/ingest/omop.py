"""OMOP CDM adapter: the SMA cohort of an OMOP CDM v5.4 database → the canonical tables.

What it reads
-------------
* the **database**: a DuckDB file (embedded, the default) or a PostgreSQL server
  (:mod:`smanh.ingest.omop_sql`), its clinical tables in one schema (``cdm_schema``) and
  its vocabulary tables (``concept``, ``concept_relationship``, ``concept_ancestor``) in
  another or the same (``vocabulary_schema``);
* the **mapping** (YAML, default ``config/omop_mapping.yaml``, schema
  ``workflow/schemas/omop_mapping.schema.yaml``): which concepts, given by vocabulary and
  code, stand for each SMA type, event, treatment ingredient and scale. Concept ids are
  looked up in the database's own vocabulary tables (a non-standard code through
  ``concept_relationship`` 'Maps to'); none is written in the code or the mapping.

The cohort is every person with a condition of an SMA type concept. Each query runs in
the database and returns only the cohort's rows; the result is the same tables of text
cells a canonical export holds (:class:`smanh.readers.RawTable`: dates ``YYYY-MM-DD``,
the canonical vocabularies), which :func:`smanh.registry.build_export` then types and
validates exactly as a canonical CSV export — so every rule, exclusion and count is
shared. Each cell remembers its OMOP table, column and row id (``measurement_id=...``),
so problems name them.

Patients: ``person`` (patient id, sex, birth date from ``year_of_birth`` /
``month_of_birth`` / ``day_of_birth`` — a missing day or month gives a partial date,
imputed and counted as in a canonical export — site through ``care_site``), the SMA type
from ``condition_occurrence``, SMN2 copies from ``measurement``, onset and diagnosis dates
from ``observation`` (or the SMA condition), enrolment and last contact from
``observation_period`` (first start, last end), death from ``death``. Events from
``condition_occurrence``, ``procedure_occurrence`` and ``observation``; treatments from
``drug_exposure`` by ingredient (``concept_ancestor``); assessments from ``measurement``
(``value_as_number``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from smanh.config import validate_config
from smanh.errors import ConfigError
from smanh.export_format import TABLES
from smanh.ingest.omop_sql import Database, OmopError, connect, default_schema, identifier, literal
from smanh.ingest.omop_sql import schema_names, table_columns
from smanh.readers import RawTable, SourceFile, sha256
from smanh.validation import Finding, Problem

ROOT = Path(__file__).resolve().parents[3]
MAPPING_SCHEMA = ROOT / "workflow" / "schemas" / "omop_mapping.schema.yaml"
DEFAULT_MAPPING = ROOT / "config" / "omop_mapping.yaml"
UNKNOWN_TYPE = "unknown"
# OMOP tables that can hold events: (date column, concept column, id column).
EVENT_TABLES = {
    "condition_occurrence": ("condition_start_date", "condition_concept_id", "condition_occurrence_id"),
    "procedure_occurrence": ("procedure_date", "procedure_concept_id", "procedure_occurrence_id"),
    "observation": ("observation_date", "observation_concept_id", "observation_id"),
}
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


# --------------------------------------------------------------------------- entry point
def read_omop(
    duckdb: str | Path | None = None,
    postgres: dict | None = None,
    cdm_schema: str | None = None,
    vocabulary_schema: str | None = None,
    mapping: str | Path = DEFAULT_MAPPING,
    needs: dict[str, str] | None = None,
) -> tuple[dict[str, RawTable], list[Problem], list[SourceFile]]:
    """The canonical raw tables of the SMA cohort of an OMOP CDM database.

    Parameters
    ----------
    duckdb : a DuckDB database file (the embedded default); or
    postgres : PostgreSQL settings ``host``, ``port``, ``dbname``, ``user`` (any left out:
        libpq's ``PG*`` environment variables and defaults; the password only from
        ``PGPASSWORD`` or ``~/.pgpass``).
    cdm_schema, vocabulary_schema : schemas of the clinical and the vocabulary tables
        (defaults: ``main`` in DuckDB, ``public`` in PostgreSQL; vocabulary = CDM).
    mapping : the mapping file (default ``config/omop_mapping.yaml``).
    needs : mapping slot (``events.feeding_tube``, ``assessments.HFMSE``,
        ``patients.smn2_copies``, ...) → what needs it (``analysis.endpoints: feeding_tube``).
        A concept of a needed slot that is not in the vocabulary stops the read; one of
        another slot is reported on stderr and left out. ``None``: every slot is needed.

    Returns the raw tables, problems of whole tables (none: those raise), and provenance.
    """
    mapping_path = Path(mapping).expanduser()
    spec = load_mapping(mapping_path)
    sources = [SourceFile("omop_mapping", mapping_path.name, sha256(mapping_path.read_bytes()), 0)]
    with connect({"duckdb": duckdb, "postgres": postgres}) as database:
        cdm = cdm_schema or default_schema(database)
        vocabulary = vocabulary_schema or cdm
        reader = _Reader(database, identifier(cdm, "registry.omop.cdm_schema"),
                         identifier(vocabulary, "registry.omop.vocabulary_schema"), spec, mapping_path.name)
        reader.check_structure(cdm, vocabulary)
        reader.resolve_concepts(needs)
        tables = reader.tables()
        sources.append(SourceFile("omop_database", database.label, "", 0))
        sources += [SourceFile(f"omop_{t}", f"{cdm}.{t}", "", n) for t, n in sorted(reader.rows_read.items())]
    return tables, [], sources


def load_mapping(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"registry.omop.mapping: file '{path}' does not exist")
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"OMOP mapping '{path.name}' is not valid YAML: {err}") from None
    try:
        return validate_config(mapping, MAPPING_SCHEMA)
    except ConfigError as err:
        raise ConfigError(f"OMOP mapping '{path.name}': {err}") from None


def omop_needs(endpoints: list, scales: list, analysis: dict | None = None, progression: dict | None = None) -> dict:
    """Which mapping slots a workflow config needs, and who needs them: the events of
    every endpoint (its events, population and competing events), every progression
    scale, the SMA types and treatments always (strata and censoring at treatment), SMN2
    copies when a stratification, model or term uses them, onset and diagnosis dates when
    an endpoint's time origin is one."""
    from smanh.endpoints import DEATH, endpoint

    needs: dict[str, str] = {"patients.sma_type": "the cohort and its SMA types"}
    for name in ("nusinersen", "onasemnogene_abeparvovec", "risdiplam", "other"):
        needs[f"treatments.{name}"] = "censoring at the first treatment"
    for spec in endpoints:
        e = endpoint(spec)
        for event in (*e.events, *e.competing, *([e.population] if e.population else [])):
            if event != DEATH:
                needs.setdefault(f"events.{event}", f"analysis.endpoints: {e.name}")
        if e.time_origin in ("onset", "diagnosis"):
            needs.setdefault(f"patients.{e.time_origin}_date", f"analysis.endpoints: {e.name} (time origin)")
    for scale in scales:
        needs[f"assessments.{scale}"] = "progression.scales"
    if "smn2_copies" in repr((analysis or {}, progression or {})):
        needs["patients.smn2_copies"] = "a stratification or model of the config"
    return needs


# --------------------------------------------------------------------------- mapping slots
@dataclass
class Slot:
    """A group of concepts standing for one canonical value, matched in one OMOP table."""

    key: str  # needs key: events.tracheostomy
    where: str  # mapping key: events.tracheostomy.procedure_occurrence
    table: str  # OMOP table matched
    value: str  # canonical value (sma type, event, scale, ...)
    entries: list[dict]
    concept_ids: set[int] = field(default_factory=set)


def mapping_slots(spec: dict) -> list[Slot]:
    patients = spec["patients"]
    slots = [Slot("patients.sma_type", f"patients.sma_type.{v}", "condition_occurrence", v, e)
             for v, e in patients["sma_type"].items()]
    slots += [Slot("patients.sex", f"patients.sex.{v}", "person", v, e) for v, e in patients["sex"].items()]
    if "smn2_copies" in patients:
        slots.append(Slot("patients.smn2_copies", "patients.smn2_copies", "measurement", "", patients["smn2_copies"]))
    for column in ("onset_date", "diagnosis_date"):
        source = patients.get(column)
        if isinstance(source, dict):
            slots.append(Slot(f"patients.{column}", f"patients.{column}.observation", "observation", "",
                              source["observation"]))
    for event, tables in spec["events"].items():
        slots += [Slot(f"events.{event}", f"events.{event}.{t}", t, event, e) for t, e in tables.items()]
    for treatment, entries in spec["treatments"]["ingredients"].items():
        slots.append(Slot(f"treatments.{treatment}", f"treatments.ingredients.{treatment}", "drug_exposure",
                          treatment, entries))
    slots += [Slot(f"assessments.{s}", f"assessments.{s}", "measurement", s, e) for s, e in spec["assessments"].items()]
    return slots


def _describe(entry: dict) -> str:
    return f"{entry['vocabulary']} {entry['code']}" if "code" in entry else f"{entry['vocabulary']} '{entry['name']}'"


# --------------------------------------------------------------------------- reader
class _Reader:
    def __init__(self, database: Database, cdm: str, vocabulary: str, spec: dict, mapping_name: str):
        self.db, self.cdm, self.vocab, self.spec, self.mapping_name = database, cdm, vocabulary, spec, mapping_name
        self.slots = mapping_slots(spec)
        self.rows_read: dict[str, int] = {}

    # ------------------------------------------------------------------ structure
    def required_columns(self) -> dict[tuple[str, str], list[str]]:
        """(cdm|vocabulary, table) -> the columns this mapping reads."""
        patients = self.spec["patients"]
        cdm: dict[str, list[str]] = {
            "person": ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth",
                       "birth_datetime"],
            "condition_occurrence": ["condition_occurrence_id", "person_id", "condition_concept_id",
                                     "condition_start_date"],
            "observation_period": ["observation_period_id", "person_id", "observation_period_start_date",
                                   "observation_period_end_date"],
            "death": ["person_id", "death_date"],
        }
        if patients["patient_id"] == "person_source_value":
            cdm["person"].append("person_source_value")
        if patients["site"] != "none":
            cdm["person"].append("care_site_id")
            cdm["care_site"] = ["care_site_id", patients["site"]]
        for slot in self.slots:
            if slot.table in EVENT_TABLES and slot.table != "condition_occurrence":
                date, concept, key = EVENT_TABLES[slot.table]
                cdm[slot.table] = [key, "person_id", concept, date]
            elif slot.table == "measurement":
                cdm["measurement"] = ["measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                                      "value_as_number"]
            elif slot.table == "drug_exposure":
                cdm["drug_exposure"] = ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date"]
                if self.spec["treatments"]["end_date"] != "none":
                    cdm["drug_exposure"].append(self.spec["treatments"]["end_date"])
        vocabulary = {
            "concept": ["concept_id", "concept_name", "vocabulary_id", "concept_code", "standard_concept"],
            "concept_relationship": ["concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"],
        }
        if "drug_exposure" in cdm:
            vocabulary["concept_ancestor"] = ["ancestor_concept_id", "descendant_concept_id"]
        return {**{("cdm", t): c for t, c in cdm.items()}, **{("vocabulary", t): c for t, c in vocabulary.items()}}

    def check_structure(self, cdm: str, vocabulary: str) -> None:
        """Every table and column the mapping reads exists; else one error listing all."""
        schemas = {"cdm": cdm, "vocabulary": vocabulary}
        found = table_columns(self.db, [cdm, vocabulary])
        if not any(schema == cdm for schema, _ in found) or not any(schema == vocabulary for schema, _ in found):
            missing = sorted({s for s in (cdm, vocabulary) if not any(schema == s for schema, _ in found)})
            raise OmopError(
                f"{self.db.label}: schema {', '.join(map(repr, missing))} has no tables (registry.omop.cdm_schema / "
                f"vocabulary_schema; schemas in the database: {', '.join(schema_names(self.db)) or 'none'})"
            )
        errors = []
        for (role, table), columns in self.required_columns().items():
            schema = schemas[role]
            present = found.get((schema, table))
            if present is None:
                errors.append(f"table {schema}.{table} is missing")
                continue
            errors += [f"column {schema}.{table}.{c} is missing" for c in columns if c not in present]
        if errors:
            lines = "\n".join(f"  - {e}" for e in errors)
            raise OmopError(f"the OMOP CDM database {self.db.label} lacks what the mapping "
                            f"'{self.mapping_name}' reads:\n{lines}")

    # ------------------------------------------------------------------ concepts
    def resolve_concepts(self, needs: dict[str, str] | None) -> None:
        """Each slot's standard concept ids, looked up in the vocabulary tables."""
        entries = {(e["vocabulary"], e.get("code"), e.get("name", "").lower() or None)
                   for slot in self.slots for e in slot.entries}
        found = self._concepts(entries)
        standard_of = self._maps_to([cid for rows in found.values() for cid, std in rows if std != "S"])
        errors, notes, owner = [], [], {}
        for slot in self.slots:
            for i, entry in enumerate(slot.entries):
                rows = found.get((entry["vocabulary"], entry.get("code"), entry.get("name", "").lower() or None), [])
                ids: set[int] = set()
                if "name" in entry and any(std == "S" for _, std in rows):
                    rows = [(cid, std) for cid, std in rows if std == "S"]  # a name also names old concepts
                for cid, std in rows:
                    # person.gender_concept_id holds what the ETL wrote, deprecated Gender
                    # concepts (8551 UNKNOWN) included: those are matched as they are.
                    as_is = std == "S" or slot.table == "person"
                    ids |= {cid} if as_is else standard_of.get(cid, set())
                where = f"{slot.where}[{i}]: {_describe(entry)}"
                if not rows:
                    problem = f"{where} is not in {self._vocab_name}.concept"
                elif not ids:
                    problem = f"{where} is not a standard concept and has no 'Maps to' standard concept"
                else:
                    slot.concept_ids |= ids
                    continue
                # the SMA types define the cohort: always needed
                needs_of = {"patients.sma_type": "the cohort and its SMA types", **(needs or {})}
                if needs is None or slot.key in needs_of:
                    errors.append(f"{problem} (needed by {needs_of.get(slot.key, 'the mapping')})")
                else:
                    notes.append(f"{problem}; left out (nothing in the config needs {slot.key})")
            group = slot.key.split(".")[0] + ("" if slot.table != "drug_exposure" else ".ingredients")
            for cid in slot.concept_ids:
                other = owner.setdefault((group, cid), slot)
                if other.value != slot.value and other.key.split(".")[0] == slot.key.split(".")[0]:
                    errors.append(f"{slot.where} and {other.where} both reach concept_id {cid}: "
                                  "a concept must stand for one value")
        if errors:
            lines = "\n".join(f"  - {e}" for e in sorted(set(errors)))
            raise OmopError(f"OMOP mapping '{self.mapping_name}' does not fit the vocabulary of {self.db.label}:\n"
                            f"{lines}")
        for note in notes:
            print(f"note: OMOP mapping '{self.mapping_name}': {note}", file=sys.stderr)

    @property
    def _vocab_name(self) -> str:
        return self.vocab.strip('"')

    def _concepts(self, entries: set) -> dict[tuple, list[tuple[int, str]]]:
        """(vocabulary, code, name) -> [(concept_id, standard_concept)]."""
        by_code = [(v, c) for v, c, n in entries if c is not None]
        by_name = [(v, n) for v, c, n in entries if n is not None]
        found: dict[tuple, list[tuple[int, str]]] = {}
        for pairs, column, key in ((by_code, "c.concept_code", lambda v, x: (v, x, None)),
                                   (by_name, "lower(c.concept_name)", lambda v, x: (v, None, x))):
            if not pairs:
                continue
            values = ", ".join(f"({literal(v)}, {literal(x)})" for v, x in sorted(pairs))
            frame = self.db.frame(
                f"WITH wanted(vocabulary_id, term) AS (VALUES {values}) "
                f"SELECT CAST(c.concept_id AS BIGINT) AS concept_id, c.vocabulary_id, {column} AS term, "
                f"COALESCE(c.standard_concept, '') AS standard_concept FROM {self.vocab}.concept c "
                f"JOIN wanted w ON c.vocabulary_id = w.vocabulary_id AND {column} = w.term ORDER BY 1"
            )
            for cid, vocabulary, term, standard in frame.itertuples(index=False):
                found.setdefault(key(vocabulary, term), []).append((int(cid), standard))
        return found

    def _maps_to(self, concept_ids: list[int]) -> dict[int, set[int]]:
        """Non-standard concept -> its valid 'Maps to' standard concepts."""
        if not concept_ids:
            return {}
        ids = ", ".join(str(int(c)) for c in sorted(set(concept_ids)))
        frame = self.db.frame(
            f"SELECT CAST(r.concept_id_1 AS BIGINT) AS source, CAST(r.concept_id_2 AS BIGINT) AS target "
            f"FROM {self.vocab}.concept_relationship r JOIN {self.vocab}.concept c ON c.concept_id = r.concept_id_2 "
            f"WHERE r.relationship_id = 'Maps to' AND r.invalid_reason IS NULL AND c.standard_concept = 'S' "
            f"AND r.concept_id_1 IN ({ids}) ORDER BY 1, 2"
        )
        maps: dict[int, set[int]] = {}
        for source, target in frame.itertuples(index=False):
            maps.setdefault(int(source), set()).add(int(target))
        return maps

    def _values(self, prefix: str) -> list[tuple[int, str, str]]:
        """(concept_id, canonical value, OMOP table) of the slots whose key starts with prefix."""
        return sorted({(cid, s.value, s.table) for s in self.slots if s.key.startswith(prefix)
                       for cid in s.concept_ids})

    # ------------------------------------------------------------------ queries
    def _cohort(self) -> str:
        """The cohort CTE: every person with an SMA type condition, and their patient id.
        In DuckDB it is made once, as a temporary table (allowed on a read-only file)."""
        if self.db.kind == "duckdb":
            if not getattr(self, "_cohort_table", False):
                self.db.frame(f"CREATE TEMP TABLE smanh_cohort AS {self._cohort_query()}")
                self._cohort_table = True
            return "cohort AS (SELECT * FROM smanh_cohort)"
        return f"cohort AS ({self._cohort_query()})"

    def _cohort_query(self) -> str:
        ids = ", ".join(str(cid) for cid, _, _ in self._values("patients.sma_type"))
        patient = ("TRIM(COALESCE(CAST(p.person_source_value AS VARCHAR), ''))"
                   if self.spec["patients"]["patient_id"] == "person_source_value"
                   else "CAST(p.person_id AS VARCHAR)")
        # position: the person's row in the patients table (which is in person_id order)
        return (
            f"SELECT p.person_id, {patient} AS patient_id, "
            f"CAST(ROW_NUMBER() OVER (ORDER BY p.person_id) - 1 AS INTEGER) AS position FROM {self.cdm}.person p "
            f"WHERE p.person_id IN (SELECT co.person_id FROM {self.cdm}.condition_occurrence co "
            f"WHERE co.condition_concept_id IN ({ids}))"
        )

    def _query(self, table: str, sql: str, *ctes: str) -> pd.DataFrame:
        frame = self.db.frame(f"WITH {', '.join([self._cohort(), *ctes])} {sql}")
        self.rows_read[table] = self.rows_read.get(table, 0) + len(frame)
        return frame

    @staticmethod
    def _map_cte(name: str, values: list[tuple[int, str, str]]) -> str:
        rows = ", ".join(f"({cid}, {literal(value)})" for cid, value, _ in values)
        return f"{name}(concept_id, value) AS (VALUES {rows})"

    def tables(self) -> dict[str, RawTable]:
        patients = self._patients()  # first: the other tables take their patient ids from it
        return {"patients": patients, "events": self._events(), "treatments": self._treatments(),
                "assessments": self._assessments()}

    # ------------------------------------------------------------------ patients
    def _patients(self) -> RawTable:
        site = self.spec["patients"]["site"]
        care_site_id = "COALESCE(CAST(p.care_site_id AS BIGINT), -1)" if site != "none" else "-1"
        # birth date parts as numbers (NULL flagged), turned into text per distinct date
        persons = self._query(
            "person",
            "SELECT CAST(p.person_id AS BIGINT) AS person_id, c.patient_id, "
            "COALESCE(CAST(p.gender_concept_id AS BIGINT), 0) AS gender_concept_id, "
            "COALESCE(CAST(p.year_of_birth AS BIGINT), 0) AS year, COALESCE(CAST(p.month_of_birth AS BIGINT), 0) AS month, "
            "COALESCE(CAST(p.day_of_birth AS BIGINT), 0) AS day, "
            "COALESCE(CAST(CAST(p.birth_datetime AS DATE) - DATE '1970-01-01' AS BIGINT), 0) AS birth_day, "
            "(CASE WHEN p.year_of_birth IS NULL THEN 1 ELSE 0 END + CASE WHEN p.month_of_birth IS NULL THEN 2 ELSE 0 "
            "END + CASE WHEN p.day_of_birth IS NULL THEN 4 ELSE 0 END + CASE WHEN p.birth_datetime IS NULL THEN 8 "
            f"ELSE 0 END) AS missing, {care_site_id} AS care_site_id "
            f"FROM {self.cdm}.person p JOIN cohort c ON c.person_id = p.person_id ORDER BY p.person_id",
        )
        n = len(persons)
        if not n:
            raise OmopError(f"the cohort is empty: no person of {self.db.label} has a condition_occurrence of the "
                            f"SMA type concepts of the mapping '{self.mapping_name}' (patients.sma_type)")
        person_ids = persons["person_id"].to_numpy(dtype=np.int64)
        patients = _PatientColumns(n, person_ids, self.spec["patients"])
        patients.set_all("patient_id", persons["patient_id"].to_numpy(dtype=object))
        patients.set_all("birth_date", birth_texts(persons[["year", "month", "day", "birth_day", "missing"]]))
        patients.set_all("sex", self._sex(persons["gender_concept_id"]))
        if site != "none":
            sites = self.db.frame(f"SELECT CAST(care_site_id AS BIGINT) AS care_site_id, "
                                  f"COALESCE(TRIM(CAST({site} AS VARCHAR)), '') AS site FROM {self.cdm}.care_site")
            site_ids = persons["care_site_id"].to_numpy(dtype=np.int64)
            known = site_ids >= 0
            names = dict(zip(sites["care_site_id"].astype(np.int64), sites["site"]))
            codes, distinct = pd.factorize(site_ids)
            patients.set_all("site", np.array([names.get(i, "") for i in distinct], dtype=object)[codes])
            patients.lines["site"][known] = site_ids[known]
            patients.keys["site"][known] = "care_site_id"
        index = pd.Index(person_ids)
        self.person_index, self.patient_ids = index, persons["patient_id"].to_numpy(dtype=object)
        self._sma_types(patients, index)
        self._smn2(patients, index)
        for column in ("onset_date", "diagnosis_date"):
            if isinstance(self.spec["patients"].get(column), dict):
                self._observed_date(patients, index, column)
        self._observation_periods(patients, index)
        self._deaths(patients, index)
        return patients.table()

    def _sex(self, gender_ids: pd.Series) -> np.ndarray:
        sexes = {cid: value for cid, value, _ in self._values("patients.sex")}
        codes, distinct = pd.factorize(gender_ids.fillna(0).astype(np.int64))
        # 0 = "No matching concept": unknown (blank); an unmapped concept shows as its id.
        texts = [sexes.get(i, "" if i == 0 else str(i)) for i in distinct]
        return np.array(texts, dtype=object)[codes]

    def _sma_types(self, patients: _PatientColumns, index: pd.Index) -> None:
        rows = self._query(
            "condition_occurrence",
            "SELECT person_id, value AS sma_type, condition_occurrence_id, start_date FROM ("
            "SELECT CAST(co.person_id AS BIGINT) AS person_id, m.value, "
            "CAST(co.condition_occurrence_id AS BIGINT) AS condition_occurrence_id, "
            "CAST(co.condition_start_date AS VARCHAR) AS start_date, ROW_NUMBER() OVER (PARTITION BY co.person_id, "
            "m.value ORDER BY co.condition_start_date, co.condition_occurrence_id) AS rank "
            f"FROM {self.cdm}.condition_occurrence co JOIN sma m ON co.condition_concept_id = m.concept_id "
            "JOIN cohort c ON c.person_id = co.person_id) t WHERE rank = 1 "
            "ORDER BY person_id, start_date, condition_occurrence_id",
            self._map_cte("sma", self._values("patients.sma_type")),
        )
        positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
        types = rows["sma_type"].to_numpy(dtype=object)
        ids = rows["condition_occurrence_id"].to_numpy(dtype=np.int64)
        starts = rows["start_date"].to_numpy(dtype=object)
        # Rows are sorted by person, then date: a person's first row is their earliest.
        first = np.r_[True, positions[1:] != positions[:-1]] if len(rows) else np.zeros(0, bool)
        if self.spec["patients"].get("diagnosis_date") == "condition_occurrence":
            patients.set("diagnosis_date", positions[first], starts[first], ids[first],
                         "condition_occurrence", "condition_start_date")
        counts = np.bincount(positions, minlength=len(index)) if len(rows) else np.zeros(len(index), int)
        single = counts[positions] == 1
        patients.set("sma_type", positions[single], types[single], ids[single], "condition_occurrence")
        for position in np.unique(positions[~single]):
            mine = np.flatnonzero(positions == position)
            chosen = _most_specific([types[i] for i in mine])
            rows_of = {types[i]: i for i in reversed(mine)}  # each type's (only) row
            first_chosen = rows_of[chosen[0]]
            patients.set("sma_type", np.array([position]), np.array([chosen[0]], dtype=object),
                         np.array([ids[first_chosen]]), "condition_occurrence")
            if len(chosen) > 1:
                listed = "; ".join(f"{t} (condition_occurrence_id={ids[rows_of[t]]})" for t in chosen)
                patients.findings.append(Finding("patients", int(position), "sma_type", listed, TWO_TYPES_RULE))

    def _smn2(self, patients: _PatientColumns, index: pd.Index) -> None:
        values = self._values("patients.smn2_copies")
        if not values:
            return
        ids = ", ".join(str(cid) for cid, _, _ in values)
        rows = self._query(
            "measurement",
            "SELECT CAST(m.person_id AS BIGINT) AS person_id, CAST(m.value_as_number AS DOUBLE PRECISION) AS value, "
            "MIN(CAST(m.measurement_id AS BIGINT)) AS measurement_id "
            f"FROM {self.cdm}.measurement m JOIN cohort c ON c.person_id = m.person_id "
            f"WHERE m.measurement_concept_id IN ({ids}) AND m.value_as_number IS NOT NULL "
            "GROUP BY m.person_id, m.value_as_number ORDER BY person_id, measurement_id",
        )
        texts = number_texts(rows["value"].to_numpy(dtype=float))
        self._one_per_person(patients, index, rows["person_id"], texts, rows["measurement_id"], "smn2_copies",
                             "measurement", TWO_SMN2_RULE)

    def _deaths(self, patients: _PatientColumns, index: pd.Index) -> None:
        rows = self._query(
            "death",
            "SELECT CAST(d.person_id AS BIGINT) AS person_id, CAST(d.death_date AS VARCHAR) AS death_date "
            f"FROM {self.cdm}.death d JOIN cohort c ON c.person_id = d.person_id "
            "GROUP BY d.person_id, d.death_date ORDER BY person_id, death_date",
        )
        self._one_per_person(patients, index, rows["person_id"], rows["death_date"].to_numpy(dtype=object),
                             rows["person_id"], "death_date", "death", TWO_DEATHS_RULE)

    def _one_per_person(self, patients, index, person_ids, texts, row_ids, column, table, rule) -> None:
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

    def _observed_date(self, patients: _PatientColumns, index: pd.Index, column: str) -> None:
        values = self._values(f"patients.{column}")
        if not values:
            return
        ids = ", ".join(str(cid) for cid, _, _ in values)
        rows = self._query(
            "observation",
            "SELECT person_id, observation_date, observation_id FROM ("
            "SELECT CAST(o.person_id AS BIGINT) AS person_id, CAST(o.observation_date AS VARCHAR) AS observation_date, "
            "CAST(o.observation_id AS BIGINT) AS observation_id, ROW_NUMBER() OVER (PARTITION BY o.person_id "
            "ORDER BY o.observation_date, o.observation_id) AS rank "
            f"FROM {self.cdm}.observation o JOIN cohort c ON c.person_id = o.person_id "
            f"WHERE o.observation_concept_id IN ({ids})) t WHERE rank = 1 ORDER BY person_id",
        )
        positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
        patients.set(column, positions, rows["observation_date"].to_numpy(dtype=object),
                     rows["observation_id"].to_numpy(dtype=np.int64), "observation")

    def _observation_periods(self, patients: _PatientColumns, index: pd.Index) -> None:
        rows = self._query(
            "observation_period",
            "SELECT person_id, start_date, start_id, end_date, end_id FROM ("
            "SELECT CAST(op.person_id AS BIGINT) AS person_id, "
            "CAST(op.observation_period_start_date AS VARCHAR) AS start_date, "
            "CAST(op.observation_period_id AS BIGINT) AS start_id, "
            "FIRST_VALUE(CAST(op.observation_period_end_date AS VARCHAR)) OVER latest AS end_date, "
            "FIRST_VALUE(CAST(op.observation_period_id AS BIGINT)) OVER latest AS end_id, "
            "ROW_NUMBER() OVER (PARTITION BY op.person_id ORDER BY op.observation_period_start_date, "
            "op.observation_period_id) AS rank "
            f"FROM {self.cdm}.observation_period op JOIN cohort c ON c.person_id = op.person_id "
            "WINDOW latest AS (PARTITION BY op.person_id ORDER BY op.observation_period_end_date DESC, "
            "op.observation_period_id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
            ") t WHERE rank = 1 ORDER BY person_id",
        )
        positions = index.get_indexer(rows["person_id"].to_numpy(dtype=np.int64))
        patients.set("enrolment_date", positions, rows["start_date"].to_numpy(dtype=object),
                     rows["start_id"].to_numpy(dtype=np.int64), "observation_period")
        patients.set("last_contact_date", positions, rows["end_date"].to_numpy(dtype=object),
                     rows["end_id"].to_numpy(dtype=np.int64), "observation_period")

    # ------------------------------------------------------------------ events
    def _events(self) -> RawTable:
        values = self._values("events.")
        events = sorted({value for _, value, _ in values})
        sources = list(EVENT_TABLES)
        parts = []
        for number, (table, (date, concept, key)) in enumerate(EVENT_TABLES.items()):
            if not any(v[2] == table for v in values):
                continue
            parts.append(
                f"SELECT c.position, m.code AS event, "
                f"CAST(t.{date} - DATE '1970-01-01' AS INTEGER) AS day, {number} AS source, "
                f"CAST(t.{key} AS BIGINT) AS row_id FROM {self.cdm}.{table} t "
                f"JOIN events_{table} m ON t.{concept} = m.concept_id JOIN cohort c ON c.person_id = t.person_id"
            )
        ctes = [self._code_cte(f"events_{t}", [v for v in values if v[2] == t], events) for t in sources
                if any(v[2] == t for v in values)]
        columns = ["patient_id", "event", "date"]
        if not parts:
            return _raw("events", "observation", pd.DataFrame({c: [] for c in columns}, dtype=object), np.zeros(0, int))
        rows = self.db.arrays(f"WITH {', '.join([self._cohort(), *ctes])} SELECT * FROM ("
                              f"{' UNION ALL '.join(parts)}) e")
        rows = _sorted(rows, "source", "row_id")
        source_code = rows["source"].astype(np.int64)
        for number, n in zip(*np.unique(source_code, return_counts=True)):
            self.rows_read[sources[number]] = self.rows_read.get(sources[number], 0) + int(n)
        data = pd.DataFrame({
            "patient_id": self.patient_ids[np.asarray(rows["position"], dtype=np.intp)],
            "event": np.array(events, dtype=object)[rows["event"].astype(np.int64)],
            "date": day_texts(rows["day"]),
        }, columns=columns, copy=False)
        table = _raw("events", "observation", data, rows["row_id"])
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

    # ------------------------------------------------------------------ treatments
    def _treatments(self) -> RawTable:
        columns = ["patient_id", "treatment", "start_date", "end_date"]
        values = self._values("treatments.")
        end_column = self.spec["treatments"]["end_date"]
        if not values:
            return _raw("treatments", "drug_exposure", pd.DataFrame({c: [] for c in columns}, dtype=object),
                        np.zeros(0, int), "drug_exposure_id")
        end = f"COALESCE(CAST(de.{end_column} AS VARCHAR), '')" if end_column != "none" else "''"
        rows = self._query(
            "drug_exposure",
            f"SELECT c.patient_id, d.value AS treatment, CAST(de.drug_exposure_start_date AS VARCHAR) AS start_date, "
            f"{end} AS end_date, CAST(de.drug_exposure_id AS BIGINT) AS drug_exposure_id "
            f"FROM {self.cdm}.drug_exposure de JOIN drugs d ON de.drug_concept_id = d.concept_id "
            "JOIN cohort c ON c.person_id = de.person_id ORDER BY de.person_id, start_date, drug_exposure_id, treatment",
            self._map_cte("ingredients", values),
            # a drug of an ingredient: the ingredient itself or any descendant (clinical drugs)
            f"drugs AS (SELECT DISTINCT a.descendant_concept_id AS concept_id, i.value FROM "
            f"{self.vocab}.concept_ancestor a JOIN ingredients i ON a.ancestor_concept_id = i.concept_id "
            "UNION SELECT concept_id, value FROM ingredients)",
        )
        table = _raw("treatments", "drug_exposure", rows[columns], rows["drug_exposure_id"].to_numpy(dtype=np.int64),
                     "drug_exposure_id")
        table.column_names.update(patient_id="person_id", treatment="drug_concept_id",
                                  start_date="drug_exposure_start_date", end_date=end_column)
        return table

    # ------------------------------------------------------------------ assessments
    def _assessments(self) -> RawTable:
        columns = ["patient_id", "date", "scale", "score"]
        values = self._values("assessments.")
        if not values:
            return _raw("assessments", "measurement", pd.DataFrame({c: [] for c in columns}, dtype=object),
                        np.zeros(0, int), "measurement_id")
        scales = sorted({value for _, value, _ in values})
        # Numbers only: a million assessments become text from their few distinct values.
        rows = self.db.arrays(
            f"WITH {self._cohort()}, {self._code_cte('scales', values, scales)} "
            "SELECT c.position, "
            "CAST(me.measurement_date - DATE '1970-01-01' AS INTEGER) AS day, s.code AS scale, "
            "CAST(me.value_as_number AS DOUBLE PRECISION) AS score, CAST(me.measurement_id AS BIGINT) AS row_id "
            f"FROM {self.cdm}.measurement me JOIN scales s ON me.measurement_concept_id = s.concept_id "
            "JOIN cohort c ON c.person_id = me.person_id"
        )
        rows = _sorted(rows, "row_id")  # in measurement_id order, whatever order the scan gave
        self.rows_read["measurement"] = self.rows_read.get("measurement", 0) + len(rows["row_id"])
        score = rows["score"]
        score = score.filled(np.nan) if np.ma.isMaskedArray(score) else score.astype(float)
        data = pd.DataFrame({
            "patient_id": self.patient_ids[np.asarray(rows["position"], dtype=np.intp)],
            "date": day_texts(rows["day"]),
            "scale": np.array(scales, dtype=object)[rows["scale"].astype(np.int64)],
            "score": number_texts(score),
        }, columns=columns, copy=False)
        table = _raw("assessments", "measurement", data, rows["row_id"], "measurement_id")
        table.column_names.update(patient_id="person_id", date="measurement_date", scale="measurement_concept_id",
                                  score="value_as_number")
        return table

    @staticmethod
    def _code_cte(name: str, values: list[tuple[int, str, str]], names: list[str]) -> str:
        """concept_id -> the position of its value in ``names`` (numbers travel faster than text)."""
        rows = ", ".join(f"({cid}, {names.index(value)})" for cid, value, _ in values)
        return f"{name}(concept_id, code) AS (VALUES {rows})"


# --------------------------------------------------------------------------- helpers
def _most_specific(types: list[str]) -> list[str]:
    """The SMA types no other of ``types`` refines (``unknown`` < ``2`` < ``2a``), in the
    order given (earliest diagnosis first)."""
    def refines(finer: str, coarser: str) -> bool:
        return finer != coarser and (coarser == UNKNOWN_TYPE or finer.startswith(coarser))

    kept = [t for t in types if not any(refines(other, t) for other in types)]
    return list(dict.fromkeys(kept))


def number_texts(values: np.ndarray) -> np.ndarray:
    """Numbers as a canonical export writes them: whole numbers without a decimal point
    (``4``), others in their shortest exact form (``21.5``); NaN blank."""
    values = np.asarray(values, dtype=float)
    whole = bool((np.abs(values) < 1e15).all() and (values == np.round(values)).all())  # NaN: False
    span = _small_range(values.astype(np.int64)) if whole else None
    if span is not None:  # scores and copy numbers: whole numbers in a small range
        texts = np.array([str(v) for v in range(span[0], span[1] + 1)], dtype=object)
        return texts[values.astype(np.int64) - span[0]]
    codes, distinct = pd.factorize(values)  # NaN -> -1
    texts = [str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v)) for v in distinct]
    return np.array([*texts, ""], dtype=object)[codes]


def birth_texts(parts: pd.DataFrame) -> np.ndarray:
    """Birth dates as a canonical export writes them, from ``year``, ``month``, ``day``,
    ``birth_day`` (of ``birth_datetime``, days since 1970) and ``missing`` (bit flags of
    NULL year 1, month 2, day 4, birth_datetime 8): all three parts give the full date;
    otherwise ``birth_datetime``'s date; otherwise ``YYYY-MM`` or ``YYYY`` (partial dates,
    imputed and counted by the validation); no year: blank."""
    values = np.ascontiguousarray(parts.to_numpy(dtype=np.int64))
    rows = values.view(np.dtype((np.void, values.dtype.itemsize * values.shape[1]))).ravel()
    _, first, codes = np.unique(rows, return_index=True, return_inverse=True)  # distinct dates
    texts = []
    for year, month, day, birth_day, missing in values[first]:
        if missing & 1:
            texts.append("")
        elif not missing & 6:
            texts.append(f"{year}-{month:02d}-{day:02d}")
        elif not missing & 8:
            texts.append(str(np.datetime64(int(birth_day), "D")))
        elif not missing & 2:
            texts.append(f"{year}-{month:02d}")
        else:
            texts.append(str(year))
    return np.array(texts, dtype=object)[codes.ravel()]


def _sorted(rows: dict[str, np.ndarray], *keys: str) -> dict[str, np.ndarray]:
    """Rows (numpy columns) ordered by ``keys`` (row ids: unique), a deterministic order;
    numpy's stable sort of the ids (read nearly in order) beats the database's sort of a
    million rows by several keys."""
    columns = [np.asarray(rows[k], dtype=np.int64) for k in keys]
    if len(columns[0]) < 2:
        return rows
    in_order = np.ones(len(columns[0]) - 1, dtype=bool)  # each row after the previous one
    decided = np.zeros(len(columns[0]) - 1, dtype=bool)
    for column in columns:
        step = np.diff(column)
        in_order &= decided | (step >= 0)
        decided |= step != 0
    if in_order.all() and decided.all():
        return rows  # already in order (a one-thread scan of a table written in id order)
    order = np.lexsort(columns[::-1])
    return {c: np.asarray(v)[order] for c, v in rows.items()}


def _constant(n: int, text: str) -> np.ndarray:
    """n times the same str object (np.full converts the text n times: 100 times slower)."""
    return np.array([text], dtype=object).repeat(n)


def _small_range(values: np.ndarray) -> tuple[int, int] | None:
    """(lowest, highest) of integer values spanning at most as many as there are values
    (a lookup table over the span is then cheaper than hashing every value), else None."""
    if not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    return (low, high) if high - low <= max(len(values), 1000) else None


def day_texts(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as ``YYYY-MM-DD``, each distinct day formatted once."""
    days = np.asarray(days, dtype=np.int64)
    span = _small_range(days)
    if span is not None:  # registry dates: a few decades of days
        every = np.arange(span[0], span[1] + 1).astype("datetime64[D]")
        return np.datetime_as_string(every, unit="D").astype(object)[days - span[0]]
    codes, distinct = pd.factorize(days)
    texts = np.datetime_as_string(distinct.astype("datetime64[D]"), unit="D").astype(object)
    return texts[codes]


def _raw(name: str, file: str, data: pd.DataFrame, lines: np.ndarray, key: str = "") -> RawTable:
    """A raw table of text cells; the queries give '' for NULL (COALESCE), never NaN."""
    return RawTable(name, file, data, np.asarray(lines, dtype=np.int64), key=key)


class _PatientColumns:
    """The patients table being built: per column the text, the row id, the OMOP table
    and its key of every cell (a cell without a value points at the person)."""

    def __init__(self, n: int, person_ids: np.ndarray, spec: dict):
        self.n, self.person_ids = n, person_ids
        self.columns = [c.name for c in TABLES["patients"].columns]
        self.values = {c: _constant(n, "") for c in self.columns}
        self.lines = {c: person_ids.copy() for c in self.columns}
        self.keys = {c: _constant(n, "person_id") for c in self.columns}
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
            table.cell_files[column] = _constant(self.n, source_table)
            table.cell_keys[column] = self.keys[column]
        return table
