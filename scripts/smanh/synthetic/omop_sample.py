"""The sample registry as an OMOP CDM v5.4 database (``data/sample_omop/sample_omop.duckdb``).

Written deterministically from a canonical export (``data/sample/``) through the mapping
(``config/omop_mapping.yaml``: each canonical value is written as the first concept the
mapping lists for it), so that the OMOP route (:mod:`smanh.ingest.omop`) can be checked
against the canonical route table by table. The database holds the clinical tables the
route reads (``person``, ``observation_period``, ``death``, ``condition_occurrence``,
``measurement``, ``observation``, ``drug_exposure``, ``procedure_occurrence``, ``care_site``,
``cdm_source``; columns and types of the OHDSI DDL for 5.4) and a minimal vocabulary: the
``concept``, ``concept_relationship`` ('Maps to', with the standard concepts' maps to
themselves) and ``concept_ancestor`` rows of the concepts used, and the ``vocabulary`` rows.

Concept ids: Gender (8507, 8532, 8551), the Registry type concept (32879), 'Dependence on
ventilator' (40481547) and 'Noninvasive ventilation' (4177224) are Athena's; the other
standard concepts have invented ids in Athena's ranges, and their RxNorm codes are
invented too (the mapping looks ingredients up by name). Vocabulary ``SMANH`` holds the
custom concepts (ids from 2,000,000,001), as a site's local concepts would be.

How the canonical fields are written: patient_id → ``person_source_value``; birth date →
``year/month/day_of_birth`` (a partial date leaves month or day NULL) and
``birth_datetime``; site → ``care_site``; SMA type → one ``condition_occurrence`` (for
type 1 and unknown, every other patient recorded with the ICD-10 source code G12.0 / G12.1
that maps to the standard concept), dated at the diagnosis (else at enrolment); onset and
diagnosis dates → ``observation`` rows of their concepts; SMN2 copies → ``measurement``;
enrolment and last contact → one ``observation_period``; death → ``death``; events → the
table of their first concept; treatments → ``drug_exposure`` of a clinical drug of the
ingredient (``verbatim_end_date`` = the recorded end, ``drug_exposure_end_date`` = it or,
ongoing, the last contact); assessments → ``measurement.value_as_number``.

Command line (also run by ``make sample``)::

    python -m smanh.synthetic.omop_sample --sample data/sample --out data/sample_omop/sample_omop.duckdb

and, for the PostgreSQL test (connection from the ``PG*`` variables)::

    python -m smanh.synthetic.omop_sample --load-postgres data/sample_omop/sample_omop.duckdb \\
        --cdm-schema cdm --vocabulary-schema vocab
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.ingest.omop import load_mapping as load_omop_mapping
from smanh.ingest.omop_sql import identifier
from smanh.synthetic.omop_ddl import CDM_TABLES, VOCABULARY_TABLES, ddl

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MAPPING = ROOT / "config" / "omop_mapping.yaml"
REGISTRY_TYPE = 32879  # Type Concept 'Registry'
VALID_START, VALID_END = dt.date(1970, 1, 1), dt.date(2099, 12, 31)

# --------------------------------------------------------------------------- vocabulary
# (concept_id, name, domain, vocabulary, class, standard, code[, invalid_reason])
CONCEPTS = [
    (8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (8551, "UNKNOWN", "Gender", "Gender", "Gender", None, "U", "D"),
    (REGISTRY_TYPE, "Registry", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976894"),
    (4310767, "Spinal muscular atrophy", "Condition", "SNOMED", "Clinical Finding", "S", "5262007"),
    (4188461, "Werdnig-Hoffmann disease", "Condition", "SNOMED", "Clinical Finding", "S", "64383006"),
    (4173827, "Kugelberg-Welander disease", "Condition", "SNOMED", "Clinical Finding", "S", "54280009"),
    (1569147, "Infantile spinal muscular atrophy, type I [Werdnig-Hoffman]", "Condition", "ICD10", "ICD10 code",
     None, "G12.0"),
    (1569148, "Other inherited spinal muscular atrophy", "Condition", "ICD10", "ICD10 code", None, "G12.1"),
    (40481547, "Dependence on ventilator", "Condition", "SNOMED", "Clinical Finding", "S", "444932008"),
    (4177224, "Noninvasive ventilation", "Procedure", "SNOMED", "Procedure", "S", "428311008"),
    (4311023, "Tracheostomy", "Procedure", "SNOMED", "Procedure", "S", "48387007"),
    (4164398, "Gastrostomy", "Procedure", "SNOMED", "Procedure", "S", "54956002"),
    (4169390, "Spinal fusion", "Procedure", "SNOMED", "Procedure", "S", "55705006"),
    (1616436, "SMN2 gene copy number", "Measurement", "LOINC", "Lab Test", "S", "97654-8"),
    (3014876, "Illness or injury onset date and time", "Observation", "LOINC", "Clinical Observation", "S",
     "11368-8"),
    (4215685, "Date of diagnosis", "Observation", "SNOMED", "Observable Entity", "S", "432213005"),
    (40765148, "Six minute walk test distance", "Measurement", "LOINC", "Clinical Observation", "S", "64098-7"),
    (35603931, "nusinersen", "Drug", "RxNorm", "Ingredient", "S", "1872251"),
    (35603932, "nusinersen 2.4 MG/ML Injectable Solution", "Drug", "RxNorm", "Clinical Drug", "S", "1872257"),
    (36000001, "onasemnogene abeparvovec", "Drug", "RxNorm", "Ingredient", "S", "2168329"),
    (36000002, "onasemnogene abeparvovec-xioi Injectable Suspension", "Drug", "RxNorm", "Clinical Drug", "S",
     "2168335"),
    (36100001, "risdiplam", "Drug", "RxNorm", "Ingredient", "S", "2385595"),
    (36100002, "risdiplam 0.75 MG/ML Oral Solution", "Drug", "RxNorm", "Clinical Drug", "S", "2385601"),
]
CUSTOM = [  # vocabulary SMANH: (code, name, domain, class)
    ("SMA-0", "Spinal muscular atrophy type 0", "Condition", "Clinical Finding"),
    ("SMA-1A", "Spinal muscular atrophy type 1a", "Condition", "Clinical Finding"),
    ("SMA-1B", "Spinal muscular atrophy type 1b", "Condition", "Clinical Finding"),
    ("SMA-1C", "Spinal muscular atrophy type 1c", "Condition", "Clinical Finding"),
    ("SMA-2", "Spinal muscular atrophy type 2", "Condition", "Clinical Finding"),
    ("SMA-2A", "Spinal muscular atrophy type 2a", "Condition", "Clinical Finding"),
    ("SMA-2B", "Spinal muscular atrophy type 2b", "Condition", "Clinical Finding"),
    ("SMA-3A", "Spinal muscular atrophy type 3a", "Condition", "Clinical Finding"),
    ("SMA-3B", "Spinal muscular atrophy type 3b", "Condition", "Clinical Finding"),
    ("SMA-4", "Spinal muscular atrophy type 4", "Condition", "Clinical Finding"),
    ("MS-HEAD", "Head control achieved", "Observation", "Clinical Observation"),
    ("MS-SIT", "Sitting without support achieved", "Observation", "Clinical Observation"),
    ("MS-STAND", "Standing without support achieved", "Observation", "Clinical Observation"),
    ("MS-WALK", "Walking without support achieved", "Observation", "Clinical Observation"),
    ("MS-SIT-LOST", "Loss of independent sitting", "Observation", "Clinical Observation"),
    ("MS-WALK-LOST", "Loss of independent walking", "Observation", "Clinical Observation"),
    ("DMT-OTHER", "Investigational SMA disease-modifying treatment", "Drug", "Ingredient"),
    ("HFMSE", "Hammersmith Functional Motor Scale Expanded, total score", "Measurement", "Clinical Observation"),
    ("RULM", "Revised Upper Limb Module, total score", "Measurement", "Clinical Observation"),
    ("CHOP-INTEND", "CHOP INTEND, total score", "Measurement", "Clinical Observation"),
    ("HINE-2", "HINE section 2, total score", "Measurement", "Clinical Observation"),
    ("FVC-PCT", "Forced vital capacity, % predicted", "Measurement", "Clinical Observation"),
]
CUSTOM_FIRST_ID = 2_000_000_001
MAPS_TO = [(1569147, 4188461), (1569148, 4310767)]  # ICD10 G12.0, G12.1 -> SNOMED
DRUG_OF = {35603931: 35603932, 36000001: 36000002, 36100001: 36100002}  # ingredient -> clinical drug
VOCABULARIES = [
    ("Gender", "OMOP Gender", 44819217), ("Type Concept", "OMOP Type Concept", 44819233),
    ("SNOMED", "Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)", 44819097),
    ("ICD10", "International Classification of Diseases, Tenth Revision (WHO)", 44819124),
    ("LOINC", "Logical Observation Identifiers Names and Codes (Regenstrief Institute)", 44819102),
    ("RxNorm", "RxNorm (NLM)", 44819104),
    ("SMANH", "smanh sample registry: custom SMA concepts", 2_000_000_000),
]


def vocabulary_tables() -> dict[str, pd.DataFrame]:
    """concept, concept_relationship, concept_ancestor and vocabulary rows of the sample."""
    rows = [(*c, None)[:8] if len(c) == 7 else c for c in CONCEPTS]
    rows += [(CUSTOM_FIRST_ID + i, name, domain, "SMANH", cls, "S", code, None)
             for i, (code, name, domain, cls) in enumerate(CUSTOM)]
    concept = pd.DataFrame(rows, columns=["concept_id", "concept_name", "domain_id", "vocabulary_id",
                                          "concept_class_id", "standard_concept", "concept_code", "invalid_reason"])
    concept.insert(7, "valid_start_date", VALID_START)
    concept.insert(8, "valid_end_date", VALID_END)
    standard = concept.loc[concept["standard_concept"] == "S", "concept_id"].tolist()
    relationships = [(a, b, "Maps to") for a, b in MAPS_TO] + [(a, b, "Mapped from") for a, b in MAPS_TO]
    relationships += [(c, c, "Maps to") for c in standard]
    relationship = pd.DataFrame(relationships, columns=["concept_id_1", "concept_id_2", "relationship_id"])
    relationship["valid_start_date"], relationship["valid_end_date"] = VALID_START, VALID_END
    relationship["invalid_reason"] = None
    ancestors = [(c, c, 0, 0) for c in standard] + [(i, d, 1, 1) for i, d in DRUG_OF.items()]
    ancestor = pd.DataFrame(ancestors, columns=["ancestor_concept_id", "descendant_concept_id",
                                                "min_levels_of_separation", "max_levels_of_separation"])
    vocabulary = pd.DataFrame([(v, n, None, "sample", cid) for v, n, cid in VOCABULARIES],
                              columns=["vocabulary_id", "vocabulary_name", "vocabulary_reference",
                                       "vocabulary_version", "vocabulary_concept_id"])
    sort = lambda frame: frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)  # noqa: E731
    return {"concept": sort(concept), "vocabulary": sort(vocabulary),
            "concept_relationship": sort(relationship), "concept_ancestor": sort(ancestor)}


# --------------------------------------------------------------------------- conversion
class _Concepts:
    """Concept ids of the sample vocabulary by (vocabulary, code) and (vocabulary, name)."""

    def __init__(self, concept: pd.DataFrame):
        self.by_code = {(v, c): int(i) for i, v, c in zip(concept["concept_id"], concept["vocabulary_id"],
                                                           concept["concept_code"])}
        self.by_name = {(v, n.lower()): int(i) for i, v, n in zip(concept["concept_id"], concept["vocabulary_id"],
                                                                   concept["concept_name"])}
        self.maps_to = dict(MAPS_TO)

    def source(self, entry: dict) -> int:
        if "code" in entry:
            return self.by_code[(entry["vocabulary"], entry["code"])]
        return self.by_name[(entry["vocabulary"], entry["name"].lower())]

    def standard(self, entry: dict) -> int:
        concept = self.source(entry)
        return self.maps_to.get(concept, concept)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.where(values != ""), format="%Y-%m-%d").dt.date


def convert(tables: dict[str, pd.DataFrame], mapping: dict) -> dict[str, pd.DataFrame]:
    """The OMOP CDM tables of a canonical export (text cells; full ISO or partial dates)."""
    vocabulary = vocabulary_tables()
    concepts = _Concepts(vocabulary["concept"])
    first = lambda entries: entries[0]  # noqa: E731 - the concept each value is written as
    patients = tables["patients"].reset_index(drop=True)
    person_id = pd.Series(np.arange(1, len(patients) + 1), index=patients["patient_id"])
    sites = sorted(s for s in patients["site"].unique() if s)
    care_site = pd.DataFrame({"care_site_id": np.arange(1, len(sites) + 1), "care_site_name":
                              [f"Sample registry site {s}" for s in sites], "care_site_source_value": sites})
    site_id = dict(zip(sites, care_site["care_site_id"]))
    sex = {v: concepts.source(first(e)) for v, e in mapping["patients"]["sex"].items()}
    birth = patients["birth_date"].str.split("-", expand=True).reindex(columns=range(3))
    full_birth = patients["birth_date"].str.len() == 10
    person = pd.DataFrame({
        "person_id": person_id.to_numpy(),
        "gender_concept_id": [sex.get(s, 0) for s in patients["sex"]],
        "year_of_birth": birth[0].astype(int),
        "month_of_birth": pd.to_numeric(birth[1]).astype("Int64"),
        "day_of_birth": pd.to_numeric(birth[2]).astype("Int64"),
        "birth_datetime": pd.to_datetime(patients["birth_date"].where(full_birth), format="%Y-%m-%d"),
        "race_concept_id": 0, "ethnicity_concept_id": 0,
        "care_site_id": pd.array([site_id.get(s) for s in patients["site"]], dtype="Int64"),
        "person_source_value": patients["patient_id"], "gender_source_value": patients["sex"].replace("", None),
    })
    ids = person_id.to_numpy()
    period = patients[(patients["enrolment_date"] != "") & (patients["last_contact_date"] != "")]
    observation_period = pd.DataFrame({
        "observation_period_id": person_id[period["patient_id"]].to_numpy(),
        "person_id": person_id[period["patient_id"]].to_numpy(),
        "observation_period_start_date": _dates(period["enrolment_date"]).to_numpy(),
        "observation_period_end_date": _dates(period["last_contact_date"]).to_numpy(),
        "period_type_concept_id": REGISTRY_TYPE,
    })
    died = patients[patients["death_date"] != ""]
    death = pd.DataFrame({"person_id": person_id[died["patient_id"]].to_numpy(),
                          "death_date": _dates(died["death_date"]).to_numpy(), "death_type_concept_id": REGISTRY_TYPE})

    # SMA type: one condition, dated at the diagnosis (else at enrolment); every other
    # type 1 / unknown patient coded with the ICD-10 source code that maps to it.
    sma = mapping["patients"]["sma_type"]
    conditions, observations, procedures, measurements = [], [], [], []
    for position, row in enumerate(patients.itertuples(index=False)):
        entries = sma[row.sma_type]
        icd10 = [e for e in entries if e["vocabulary"] == "ICD10"]
        entry = icd10[0] if icd10 and position % 2 else entries[0]
        date = row.diagnosis_date or row.enrolment_date
        conditions.append((ids[position], concepts.standard(entry), date, entry["code"], concepts.source(entry)))
    for column, key in (("onset_date", "onset_date"), ("diagnosis_date", "diagnosis_date")):
        source = mapping["patients"].get(key)
        if isinstance(source, dict):
            concept = concepts.standard(first(source["observation"]))
            given = patients[patients[column] != ""]
            observations += [(person_id[p], concept, d) for p, d in zip(given["patient_id"], given[column])]
    smn2 = mapping["patients"].get("smn2_copies")
    if smn2:
        given = patients[patients["smn2_copies"] != ""]
        concept = concepts.standard(first(smn2))
        measurements += [(person_id[p], concept, d or e, float(v)) for p, v, d, e in
                         zip(given["patient_id"], given["smn2_copies"], given["diagnosis_date"],
                             given["enrolment_date"])]
    events = tables["events"]
    known = events["patient_id"].isin(person_id.index)
    for row in events[known].itertuples(index=False):
        (table, entries), = list(mapping["events"][row.event].items())[:1]
        record = (person_id[row.patient_id], concepts.standard(first(entries)), row.date)
        {"condition_occurrence": conditions, "procedure_occurrence": procedures, "observation": observations}[
            table].append(record + (("", None) if table == "condition_occurrence" else ()))
    scales = tables["assessments"]
    scales = scales[scales["patient_id"].isin(person_id.index)]
    scale_concept = {s: concepts.standard(first(e)) for s, e in mapping["assessments"].items()}
    measurements += [(person_id[p], scale_concept[s], d, float(v)) for p, s, d, v in
                     zip(scales["patient_id"], scales["scale"], scales["date"], scales["score"])]

    condition = pd.DataFrame(conditions, columns=["person_id", "condition_concept_id", "condition_start_date",
                                                  "condition_source_value", "condition_source_concept_id"])
    condition.insert(0, "condition_occurrence_id", np.arange(1, len(condition) + 1))
    condition["condition_start_date"] = _dates(condition["condition_start_date"])
    condition["condition_type_concept_id"] = REGISTRY_TYPE
    condition["condition_source_value"] = condition["condition_source_value"].replace("", None)
    condition["condition_source_concept_id"] = condition["condition_source_concept_id"].astype("Int64")
    observation = pd.DataFrame(observations, columns=["person_id", "observation_concept_id", "observation_date"])
    observation.insert(0, "observation_id", np.arange(1, len(observation) + 1))
    observation["observation_date"] = _dates(observation["observation_date"])
    observation["observation_type_concept_id"] = REGISTRY_TYPE
    procedure = pd.DataFrame(procedures, columns=["person_id", "procedure_concept_id", "procedure_date"])
    procedure.insert(0, "procedure_occurrence_id", np.arange(1, len(procedure) + 1))
    procedure["procedure_date"] = _dates(procedure["procedure_date"])
    procedure["procedure_type_concept_id"] = REGISTRY_TYPE
    measurement = pd.DataFrame(measurements, columns=["person_id", "measurement_concept_id", "measurement_date",
                                                      "value_as_number"])
    measurement.insert(0, "measurement_id", np.arange(1, len(measurement) + 1))
    measurement["measurement_date"] = _dates(measurement["measurement_date"])
    measurement["measurement_type_concept_id"] = REGISTRY_TYPE

    treatments = tables["treatments"]
    treatments = treatments[treatments["patient_id"].isin(person_id.index)]
    last_contact = dict(zip(patients["patient_id"], patients["last_contact_date"]))
    ingredient = {t: concepts.standard(first(e)) for t, e in mapping["treatments"]["ingredients"].items()}
    drug_exposure = pd.DataFrame({
        "drug_exposure_id": np.arange(1, len(treatments) + 1),
        "person_id": person_id[treatments["patient_id"]].to_numpy(),
        "drug_concept_id": [DRUG_OF.get(ingredient[t], ingredient[t]) for t in treatments["treatment"]],
        "drug_exposure_start_date": _dates(treatments["start_date"]).to_numpy(),
        "drug_exposure_end_date": _dates(pd.Series([e or last_contact[p] for p, e in
                                                    zip(treatments["patient_id"], treatments["end_date"])],
                                                   dtype=object)).to_numpy(),
        "verbatim_end_date": _dates(treatments["end_date"]).to_numpy(),
        "drug_type_concept_id": REGISTRY_TYPE,
        "drug_source_value": treatments["treatment"].to_numpy(),
    })
    cdm_source = pd.DataFrame([{
        "cdm_source_name": "smanh synthetic SMA sample registry", "cdm_source_abbreviation": "smanh-sample",
        "cdm_holder": "smanh", "source_description": "Synthetic registry (smanh.simulate), written by "
        "smanh.synthetic.omop_sample", "source_release_date": dt.date(2026, 1, 1),
        "cdm_release_date": dt.date(2026, 1, 1), "cdm_version": "5.4", "cdm_version_concept_id": 756265,
        "vocabulary_version": "smanh sample subset",
    }])
    return {
        "person": person, "observation_period": observation_period, "death": death,
        "condition_occurrence": condition, "procedure_occurrence": procedure, "observation": observation,
        "measurement": measurement, "drug_exposure": drug_exposure, "care_site": care_site,
        "cdm_source": cdm_source, **vocabulary,
    }


def read_canonical(folder: Path) -> dict[str, pd.DataFrame]:
    names = ("patients", "events", "treatments", "assessments")
    return {n: pd.read_csv(folder / f"{n}.csv", dtype=str, keep_default_na=False) for n in names}


def load_mapping(path: Path = DEFAULT_MAPPING) -> dict:
    """The OMOP mapping, validated as the reader validates it."""
    return load_omop_mapping(path)


# --------------------------------------------------------------------------- writing
def write_duckdb(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """A new DuckDB database file with the tables (replacing any file there)."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as connection:
        connection.execute("SET threads = 1")  # one writer: the same file from the same data
        for statement in ddl("main", {**CDM_TABLES, **VOCABULARY_TABLES}):
            connection.execute(statement)
        for name, frame in tables.items():
            connection.register("frame", frame)
            connection.execute(f"INSERT INTO main.{name} BY NAME SELECT * FROM frame")
            connection.unregister("frame")
        connection.execute("CHECKPOINT")


def load_postgres(duckdb_path: Path, cdm_schema: str = "cdm", vocabulary_schema: str = "vocab",
                  settings: dict | None = None) -> dict[str, int]:
    """Copy the tables of a DuckDB OMOP database into a PostgreSQL database (connection
    from ``settings`` and the ``PG*`` variables): the schemas are dropped and made anew,
    the OHDSI DDL, the rows through COPY. Returns the rows per table."""
    import duckdb
    import psycopg

    cdm, vocab = identifier(cdm_schema, "--cdm-schema"), identifier(vocabulary_schema, "--vocabulary-schema")
    counts = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as source, psycopg.connect(**(settings or {})) as target:
        with target.cursor() as cursor:
            for schema in dict.fromkeys([cdm, vocab]):
                cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                cursor.execute(f"CREATE SCHEMA {schema}")
            for statement in ddl(cdm, CDM_TABLES) + ddl(vocab, VOCABULARY_TABLES):
                cursor.execute(statement)
            for name in (*CDM_TABLES, *VOCABULARY_TABLES):
                schema = vocab if name in VOCABULARY_TABLES else cdm
                result = source.execute(f"SELECT * FROM main.{name}")
                columns = [d[0] for d in result.description]
                rows = result.fetchall()
                with cursor.copy(f"COPY {schema}.{name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                counts[name] = len(rows)
            cursor.execute("ANALYZE")
        target.commit()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=Path, default=ROOT / "data" / "sample", help="canonical export folder")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample_omop" / "sample_omop.duckdb")
    parser.add_argument("--mapping", type=Path, default=DEFAULT_MAPPING)
    parser.add_argument("--load-postgres", type=Path, metavar="DUCKDB",
                        help="copy this DuckDB OMOP database into PostgreSQL (PG* variables) instead")
    parser.add_argument("--cdm-schema", default="cdm")
    parser.add_argument("--vocabulary-schema", default="vocab")
    args = parser.parse_args(argv)
    if args.load_postgres:
        counts = load_postgres(args.load_postgres, args.cdm_schema, args.vocabulary_schema)
        print(f"loaded {sum(counts.values())} rows into {len(counts)} tables "
              f"(schemas {args.cdm_schema}, {args.vocabulary_schema})")
        return 0
    tables = convert(read_canonical(args.sample), load_mapping(args.mapping))
    write_duckdb(tables, args.out)
    print(f"wrote {args.out} ({len(tables['person'])} persons)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
