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
cells a canonical export holds (:class:`smanh.ingest.readers.RawTable`: dates ``YYYY-MM-DD``,
the canonical vocabularies), which :func:`smanh.ingest.registry.build_export` then types and
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

import pandas as pd
import yaml

from smanh.config.validation import validate_with_schema
from smanh.errors import ConfigError
from smanh.ingest.omop_patients import read_patients
from smanh.ingest.omop_rows import EVENT_TABLES, read_assessments, read_events, read_treatments
from smanh.ingest.omop_sql import (
    Database,
    OmopError,
    connect,
    default_schema,
    identifier,
    literal,
    schema_names,
    table_columns,
)
from smanh.ingest.problems import Problem
from smanh.ingest.readers import RawTable, SourceFile, sha256

ROOT = Path(__file__).resolve().parents[3]
MAPPING_SCHEMA = ROOT / "workflow" / "schemas" / "omop_mapping.schema.yaml"
DEFAULT_MAPPING = ROOT / "config" / "omop_mapping.yaml"


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
        reader = OmopReader(database, identifier(cdm, "registry.omop.cdm_schema"),
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
        return validate_with_schema(mapping, MAPPING_SCHEMA)
    except ConfigError as err:
        raise ConfigError(f"OMOP mapping '{path.name}': {err}") from None



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
class OmopReader:
    """The database, schemas and mapping of one read: checks the structure, resolves the
    concepts, and runs the queries of :mod:`smanh.ingest.omop_patients` and
    :mod:`smanh.ingest.omop_rows` (``values``, ``query``, ``cohort``, the concept-map CTEs)."""

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

    def values(self, prefix: str) -> list[tuple[int, str, str]]:
        """(concept_id, canonical value, OMOP table) of the slots whose key starts with prefix."""
        return sorted({(cid, s.value, s.table) for s in self.slots if s.key.startswith(prefix)
                       for cid in s.concept_ids})

    # ------------------------------------------------------------------ queries
    def cohort(self) -> str:
        """The cohort CTE: every person with an SMA type condition, and their patient id.
        In DuckDB it is made once, as a temporary table (allowed on a read-only file)."""
        if self.db.kind == "duckdb":
            if not getattr(self, "_cohort_table", False):
                self.db.frame(f"CREATE TEMP TABLE smanh_cohort AS {self._cohort_query()}")
                self._cohort_table = True
            return "cohort AS (SELECT * FROM smanh_cohort)"
        return f"cohort AS ({self._cohort_query()})"

    def _cohort_query(self) -> str:
        ids = ", ".join(str(cid) for cid, _, _ in self.values("patients.sma_type"))
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

    def query(self, table: str, sql: str, *ctes: str) -> pd.DataFrame:
        frame = self.db.frame(f"WITH {', '.join([self.cohort(), *ctes])} {sql}")
        self.rows_read[table] = self.rows_read.get(table, 0) + len(frame)
        return frame

    @staticmethod
    def map_cte(name: str, values: list[tuple[int, str, str]]) -> str:
        rows = ", ".join(f"({cid}, {literal(value)})" for cid, value, _ in values)
        return f"{name}(concept_id, value) AS (VALUES {rows})"


    @staticmethod
    def code_cte(name: str, values: list[tuple[int, str, str]], names: list[str]) -> str:
        """concept_id -> the position of its value in ``names`` (numbers travel faster than text)."""
        rows = ", ".join(f"({cid}, {names.index(value)})" for cid, value, _ in values)
        return f"{name}(concept_id, code) AS (VALUES {rows})"

    def tables(self) -> dict[str, RawTable]:
        patients = read_patients(self)  # first: the other tables take their patient ids from it
        return {"patients": patients, "events": read_events(self), "treatments": read_treatments(self),
                "assessments": read_assessments(self)}
