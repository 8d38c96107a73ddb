"""OMOP CDM input (smanh.ingest.omop): the sample through DuckDB gives the canonical tables
and byte-identical workflow results; bad databases and mappings give clear messages;
on_invalid: exclude excludes and counts as the canonical route. The PostgreSQL route runs
in tests marked ``postgres`` (``make test-postgres`` starts a server on this machine)."""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import REPOSITORY, SAMPLE, patient, run_snakemake, write_export
from smanh.config.omop_needs import omop_needs
from smanh.errors import ConfigError
from smanh.ingest import omop, omop_patients, omop_text
from smanh.ingest.omop_sql import OmopError, PostgresDatabase
from smanh.ingest.problems import RegistryValidationError, problems_frame
from smanh.ingest.registry import read_registry
from smanh.synthetic import omop_sample

SAMPLE_OMOP = REPOSITORY / "data" / "sample_omop" / "sample_omop.duckdb"
TABLES = ("patients", "events", "treatments", "assessments")
ALL_NEEDED = None  # read_omop's default: every slot of the mapping is needed


def canonical_frames(export):
    frames = {}
    for name in TABLES:
        frame = export.table(name).drop(columns="line")
        frames[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def assert_same_tables(a, b):
    fa, fb = canonical_frames(a), canonical_frames(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(fa[name], fb[name], check_dtype=False)


def read_duckdb(path, **kwargs):
    return read_registry(format="omop", omop={"duckdb": path, **kwargs.pop("omop", {})}, **kwargs)


def make_omop(folder, **tables):
    """A canonical export written from literals, and its OMOP DuckDB database."""
    export = write_export(folder / "export", **tables)
    database = folder / "omop.duckdb"
    omop_sample.write_duckdb(omop_sample.convert(omop_sample.read_canonical(export), omop_sample.load_mapping()),
                             database)
    return export, database


def sql(database, *statements):
    with duckdb.connect(str(database)) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.fixture(scope="module")
def both_routes():
    return read_registry(SAMPLE), read_duckdb(SAMPLE_OMOP)


# --------------------------------------------------------------------------- the sample
def test_omop_and_canonical_routes_give_identical_tables(both_routes):
    canonical, from_omop = both_routes
    assert_same_tables(canonical, from_omop)
    assert len(from_omop.patients) == len(canonical.patients) == 2009
    assert len(from_omop.assessments) == len(canonical.assessments) > 50_000
    # what the data-quality table is made of: every field present, the same partial dates
    pd.testing.assert_frame_equal(from_omop.completeness, canonical.completeness)
    assert from_omop.imputed_dates == canonical.imputed_dates


def test_omop_rows_remember_their_table_and_id(both_routes):
    _, from_omop = both_routes
    assessments = from_omop.assessments
    assert assessments["line"].min() >= 1  # measurement_id, not a file line
    with duckdb.connect(str(SAMPLE_OMOP), read_only=True) as connection:
        ids = set(connection.execute("SELECT measurement_id FROM measurement").fetchnumpy()["measurement_id"])
    assert set(assessments["line"]) <= ids


def test_committed_omop_sample_equals_regeneration(tmp_path):
    """The DuckDB file is not byte-reproducible (DuckDB writes a new header each time),
    so every table's rows are compared, and the regenerated file read."""
    fresh = tmp_path / "fresh.duckdb"
    assert omop_sample.main(["--sample", str(SAMPLE), "--out", str(fresh)]) == 0
    with duckdb.connect(str(SAMPLE_OMOP), read_only=True) as committed, \
            duckdb.connect(str(fresh), read_only=True) as regenerated:
        names = [r[0] for r in committed.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        assert names == [r[0] for r in regenerated.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        for name in names:
            query = f"SELECT * FROM main.{name} ORDER BY ALL"
            pd.testing.assert_frame_equal(committed.execute(query).df(), regenerated.execute(query).df(),
                                          obj=f"{name}: run `make sample`")
    assert len(names) == 14


def test_sample_vocabulary_is_a_subset_with_custom_ids_above_two_billion():
    with duckdb.connect(str(SAMPLE_OMOP), read_only=True) as connection:
        concept = connection.execute("SELECT * FROM concept").df()
        used = connection.execute(
            "SELECT condition_concept_id AS c FROM condition_occurrence UNION SELECT measurement_concept_id "
            "FROM measurement UNION SELECT observation_concept_id FROM observation UNION SELECT "
            "procedure_concept_id FROM procedure_occurrence UNION SELECT drug_concept_id FROM drug_exposure "
            "UNION SELECT gender_concept_id FROM person WHERE gender_concept_id <> 0").df()["c"]
    assert set(used) <= set(concept["concept_id"])
    custom = concept[concept["vocabulary_id"] == "SMANH"]
    assert (custom["concept_id"] >= 2_000_000_000).all() and len(custom) > 10
    assert len(concept) < 60  # a subset, not a vocabulary
    snomed = concept.set_index(["vocabulary_id", "concept_code"])["concept_id"]
    assert snomed[("SNOMED", "5262007")] < 2_000_000_000


@pytest.mark.workflow
def test_workflow_on_omop_sample_gives_byte_identical_tables(sample_run, tmp_path):
    run_dir = tmp_path / "omop"
    result = run_snakemake(run_dir, f"registry:\n  format: omop\n  omop:\n    duckdb: {SAMPLE_OMOP}\n")
    assert result.returncode == 0, result.stderr[-4000:]
    expected = sorted((sample_run / "results" / "tables").glob("*.csv"))
    assert len(expected) > 15
    different = [p.name for p in expected if (run_dir / "results" / "tables" / p.name).read_bytes() != p.read_bytes()]
    assert not different, f"tables differ between the canonical and the OMOP route: {different}"


# --------------------------------------------------------------------------- small databases
@pytest.fixture
def small(tmp_path):
    return make_omop(
        tmp_path,
        patients=[patient("P1", sma_type="1", smn2_copies="2"), patient("P2", sma_type="2a"),
                  patient("P3", sma_type="unknown", smn2_copies="", sex="")],
        events=[{"patient_id": "P1", "event": "scoliosis_surgery", "date": "2015-01-01"},
                {"patient_id": "P2", "event": "sits_independently", "date": "2011-01-01"}],
        treatments=[{"patient_id": "P1", "treatment": "nusinersen", "start_date": "2018-01-01", "end_date": ""},
                    {"patient_id": "P2", "treatment": "risdiplam", "start_date": "2019-01-01",
                     "end_date": "2019-06-01"}],
        assessments=[{"patient_id": "P2", "date": "2013-01-01", "scale": "HFMSE", "score": "21.5"}],
    )


def test_small_database_reads_like_its_canonical_export(small):
    export, database = small
    assert_same_tables(read_registry(export), read_duckdb(database))


def test_one_patient_and_empty_tables(tmp_path):
    export, database = make_omop(tmp_path, patients=[patient("P1")])
    from_omop = read_duckdb(database)
    assert_same_tables(read_registry(export), from_omop)
    assert len(from_omop.patients) == 1 and all(len(from_omop.table(t)) == 0 for t in TABLES[1:])


def test_empty_cohort_is_a_clear_error(small):
    _, database = small
    sql(database, "DELETE FROM condition_occurrence")
    with pytest.raises(OmopError, match=r"the cohort is empty: no person of duckdb:.* has a condition_occurrence "
                                        r"of the SMA type concepts"):
        read_duckdb(database)


def test_persons_without_an_sma_condition_are_not_in_the_cohort(small):
    _, database = small
    sql(database, "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
                  "ethnicity_concept_id, person_source_value) VALUES (99, 8507, 1990, 0, 0, 'NOT-SMA')",
        "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
        "measurement_type_concept_id, value_as_number) SELECT 999, 99, measurement_concept_id, DATE '2015-01-01', "
        "32879, 40 FROM measurement LIMIT 1")
    from_omop = read_duckdb(database)
    assert "NOT-SMA" not in set(from_omop.patients["patient_id"]) | set(from_omop.assessments["patient_id"])


def test_ingredient_matches_its_clinical_drugs_and_end_date_choice(small):
    _, database = small
    with duckdb.connect(str(database), read_only=True) as connection:
        drugs = connection.execute("SELECT DISTINCT c.concept_class_id FROM drug_exposure d JOIN concept c "
                                   "ON c.concept_id = d.drug_concept_id").fetchall()
    assert drugs == [("Clinical Drug",)]  # not the ingredient itself: found through concept_ancestor
    treatments = read_duckdb(database).treatments.sort_values("patient_id")
    assert treatments["treatment"].tolist() == ["nusinersen", "risdiplam"]
    assert pd.isna(treatments["end_date"].iloc[0])  # ongoing: verbatim_end_date is NULL


def test_most_specific_type_wins_and_unknown_refines(small, tmp_path):
    _, database = small
    # P2 (2a) also has the generic SMA concept and a type 2 condition: still 2a, no problem
    sql(database, "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
                  "condition_start_date, condition_type_concept_id) SELECT 100 + concept_id % 7, 2, concept_id, "
                  "DATE '2011-02-01', 32879 FROM concept WHERE concept_code IN ('5262007', 'SMA-2')")
    patients = read_duckdb(database).patients.set_index("patient_id")
    assert patients.loc["P2", "sma_type"] == "2a"
    assert omop_patients.most_specific(["unknown", "2", "2a", "2"]) == ["2a"]
    assert omop_patients.most_specific(["1b", "3", "unknown"]) == ["1b", "3"]


def test_number_texts_are_the_canonical_spelling():
    texts = omop_text.number_texts(np.array([4.0, 21.5, np.nan, 0.1, 1e20, 4.0]))
    assert texts.tolist() == ["4", "21.5", "", "0.1", "1e+20", "4"]
    assert omop_text.number_texts(np.array([], dtype=float)).tolist() == []


# --------------------------------------------------------------------------- bad input
def test_person_with_two_sma_types_is_a_problem_naming_both_conditions(small):
    _, database = small
    sql(database, "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
                  "condition_start_date, condition_type_concept_id) SELECT 77, 1, concept_id, DATE '2013-01-01', "
                  "32879 FROM concept WHERE vocabulary_id = 'SNOMED' AND concept_code = '54280009'")
    with pytest.raises(RegistryValidationError) as error:
        read_duckdb(database)
    (problem,) = error.value.problems
    assert (problem.file, problem.key, problem.line, problem.column, problem.rule) == (
        "condition_occurrence", "condition_occurrence_id", 1, "condition_concept_id", omop_patients.TWO_TYPES_RULE)
    assert problem.value == "1 (condition_occurrence_id=1); 3 (condition_occurrence_id=77)"
    assert "condition_occurrence, condition_occurrence_id=1, column 'condition_concept_id'" in str(error.value)
    assert problems_frame(error.value.problems)["line"].tolist() == ["condition_occurrence_id=1"]
    excluded = read_duckdb(database, on_invalid="exclude")
    assert excluded.excluded.to_dict("records") == [
        {"patient_id": "P1", "reason": f"invalid: patients.sma_type: {omop_patients.TWO_TYPES_RULE}"}]
    assert "P1" not in set(excluded.events["patient_id"]) | set(excluded.treatments["patient_id"])


def test_conflicting_smn2_copies_and_deaths_are_problems(small):
    _, database = small
    sql(database, "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
                  "measurement_type_concept_id, value_as_number) SELECT 500, 1, measurement_concept_id, "
                  "measurement_date, 32879, 3 FROM measurement WHERE person_id = 1 AND value_as_number = 2",
        "INSERT INTO death (person_id, death_date) VALUES (3, DATE '2019-01-01'), (3, DATE '2019-02-01')")
    with pytest.raises(RegistryValidationError) as error:
        read_duckdb(database)
    found = {(p.file, p.column, p.rule, p.value) for p in error.value.problems}
    assert ("measurement", "value_as_number", omop_patients.TWO_SMN2_RULE, "2 (measurement_id=1); 3 (measurement_id=500)") in found
    assert ("death", "death_date", omop_patients.TWO_DEATHS_RULE, "2019-01-01 (person_id=3); 2019-02-01 (person_id=3)") in found


def test_missing_tables_and_columns_are_listed_together(small):
    _, database = small
    sql(database, "DROP TABLE procedure_occurrence", "ALTER TABLE person DROP COLUMN year_of_birth",
        "ALTER TABLE measurement DROP COLUMN value_as_number")
    with pytest.raises(OmopError) as error:
        read_duckdb(database)
    message = str(error.value)
    assert "table main.procedure_occurrence is missing" in message
    assert "column main.person.year_of_birth is missing" in message
    assert "column main.measurement.value_as_number is missing" in message


def test_unmapped_concept_needed_by_an_endpoint_stops_the_read(small, capsys):
    _, database = small
    sql(database, "DELETE FROM concept WHERE concept_code = '55705006'")
    needs = {"patients.sma_type": "the cohort", "events.scoliosis_surgery": "analysis.endpoints: scoliosis_surgery"}
    with pytest.raises(OmopError) as error:
        read_duckdb(database, omop={"needs": needs})
    assert ("events.scoliosis_surgery.procedure_occurrence[0]: SNOMED 55705006 is not in main.concept "
            "(needed by analysis.endpoints: scoliosis_surgery)") in str(error.value)
    # not needed: said on stderr, and the rows are left out
    export = read_duckdb(database, omop={"needs": {"patients.sma_type": "the cohort"}})
    assert "scoliosis_surgery" not in set(export.events["event"])
    assert "SNOMED 55705006 is not in main.concept; left out" in capsys.readouterr().err


def test_unmapped_scale_and_source_code_without_maps_to(small):
    _, database = small
    sql(database, "DELETE FROM concept WHERE concept_code = 'HFMSE'",
        "DELETE FROM concept_relationship WHERE concept_id_1 = (SELECT concept_id FROM concept "
        "WHERE concept_code = 'G12.0')")
    with pytest.raises(OmopError) as error:
        read_duckdb(database, omop={"needs": {"assessments.HFMSE": "progression.scales"}})
    message = str(error.value)
    assert "assessments.HFMSE[0]: SMANH HFMSE is not in main.concept (needed by progression.scales)" in message
    assert "patients.sma_type.1[1]: ICD10 G12.0 is not a standard concept and has no 'Maps to' standard concept" in message


def test_mapping_errors_name_the_key(small, tmp_path):
    _, database = small
    text = omop.DEFAULT_MAPPING.read_text()
    (tmp_path / "bad.yaml").write_text(text.replace('code: "48387007"', "code: 48387007"))
    with pytest.raises(ConfigError, match=r"(?s)OMOP mapping 'bad.yaml': .*'events.tracheostomy."
                                          r"procedure_occurrence\[0\].code': 48387007 is not of type 'string'"):
        read_duckdb(database, omop={"mapping": tmp_path / "bad.yaml"})
    (tmp_path / "twice.yaml").write_text(text.replace('"3": [{vocabulary: SNOMED, code: "54280009"}]',
                                                      '"3": [{vocabulary: SNOMED, code: "64383006"}]'))
    with pytest.raises(OmopError, match=r"patients.sma_type.3 and patients.sma_type.1 both reach concept_id"):
        read_duckdb(database, omop={"mapping": tmp_path / "twice.yaml"})


def test_missing_or_broken_database_file_and_schema(tmp_path, small):
    with pytest.raises(OmopError, match="registry.omop.duckdb: DuckDB database file '.*nothing.duckdb' does not exist"):
        read_duckdb(tmp_path / "nothing.duckdb")
    (tmp_path / "text.duckdb").write_text("not a database\n")
    with pytest.raises(OmopError, match="registry.omop.duckdb: cannot open '.*text.duckdb' as a DuckDB database"):
        read_duckdb(tmp_path / "text.duckdb")
    _, database = small
    with pytest.raises(OmopError, match=r"schema 'cdm' has no tables .*schemas in the database: main"):
        read_duckdb(database, omop={"cdm_schema": "cdm"})
    with pytest.raises(OmopError, match="registry.omop.vocabulary_schema: 'x; drop' is not a plain schema name"):
        read_duckdb(database, omop={"vocabulary_schema": "x; drop"})


def test_unreachable_server_names_the_settings_never_the_password(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "s3cret-Value")
    with pytest.raises(OmopError) as error:
        PostgresDatabase({"host": "127.0.0.1", "port": 1, "dbname": "omop", "user": "analyst"})
    message = str(error.value)
    assert message.startswith("cannot connect to the PostgreSQL server postgresql://analyst@127.0.0.1:1/omop")
    assert "check registry.omop.postgres.host and registry.omop.postgres.port" in message
    assert "s3cret-Value" not in message
    with pytest.raises(OmopError, match="registry.omop.postgres.password: never put a password in the config"):
        PostgresDatabase({"password": "x"})


def test_config_refuses_a_password_without_echoing_it():
    from smanh.config.validation import validate_config

    config = {"registry": {"format": "omop", "omop": {"postgres": {"host": "db", "password": "s3cret"}}}}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "'password'" in str(error.value) and "PGPASSWORD" in str(error.value)
    assert "s3cret" not in str(error.value)
    with pytest.raises(ConfigError, match="config key 'registry': 'omop' is a required property"):
        validate_config({"registry": {"format": "omop"}})
    filled = validate_config({"registry": {"format": "omop", "omop": {"duckdb": "x.duckdb"}}})
    assert filled["registry"]["omop"] == {"duckdb": "x.duckdb"}


def test_omop_needs_follow_the_config():
    needs = omop_needs(["death", "permanent_ventilation", "loss_of_independent_walking",
                             {"name": "from_onset", "events": ["feeding_tube"], "time_origin": "onset"}],
                            ["HFMSE"], {"stratify_by": ["all", "sma_type"]}, {})
    assert needs["events.loss_of_independent_walking"] == "analysis.endpoints: loss_of_independent_walking"
    assert needs["events.walks_independently"] == "analysis.endpoints: loss_of_independent_walking"
    assert "events.permanent_ventilation" in needs and "events.death" not in needs
    assert needs["patients.onset_date"] == "analysis.endpoints: from_onset (time origin)"
    assert needs["assessments.HFMSE"] == "progression.scales" and "assessments.RULM" not in needs
    assert "patients.smn2_copies" not in needs
    assert "patients.smn2_copies" in omop_needs([], [], {"stratify_by": ["smn2_copies"]}, {})


def test_bad_database_stops_the_workflow_with_a_message_and_no_traceback(small, tmp_path):
    _, database = small
    sql(database, "DROP TABLE observation_period")
    run_dir = tmp_path / "run"
    result = run_snakemake(run_dir, f"registry:\n  format: omop\n  omop:\n    duckdb: {database}\n")
    assert result.returncode != 0
    assert "table main.observation_period is missing" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- on_invalid: exclude
def test_exclude_gives_the_canonical_exclusions_and_counts(tmp_path):
    """Problems an OMOP database can hold (typed columns rule out unparseable dates):
    out-of-range scores and copy numbers, dates after death, enrolment after last contact,
    an unmapped gender concept (the canonical export: an unknown sex code)."""
    export, database = make_omop(
        tmp_path,
        patients=[patient("P1"), patient("P2", smn2_copies="9"), patient("P3", death_date="2015-01-01"),
                  patient("P4", enrolment_date="2021-01-01"), patient("P5", sma_type="3b"), patient("P6", sex="M")],
        events=[{"patient_id": "P3", "event": "feeding_tube", "date": "2016-01-01"},
                {"patient_id": "P5", "event": "walks_independently", "date": "2011-06-01"}],
        assessments=[{"patient_id": "P1", "date": "2013-01-01", "scale": "HFMSE", "score": "80"},
                     {"patient_id": "P5", "date": "2013-01-01", "scale": "RULM", "score": "20"}],
    )
    sql(database, "UPDATE person SET gender_concept_id = 8521 WHERE person_source_value = 'P6'")
    (export / "patients.csv").write_text((export / "patients.csv").read_text().replace("P6,M,", "P6,8521,"))
    canonical = read_registry(export, on_invalid="exclude")
    from_omop = read_duckdb(database, on_invalid="exclude")
    pd.testing.assert_frame_equal(from_omop.excluded, canonical.excluded)
    assert len(canonical.excluded) == 5 and from_omop.dropped_rows == canonical.dropped_rows
    assert_same_tables(canonical, from_omop)
    assert [(p.rule, p.value) for p in from_omop.problems] != []
    assert sorted((p.rule, p.value) for p in from_omop.problems) == sorted((p.rule, p.value) for p in canonical.problems)
    located = {(p.file, p.key, p.column) for p in from_omop.problems}
    assert ("measurement", "measurement_id", "value_as_number") in located  # the HFMSE score of 80
    assert ("person", "person_id", "gender_concept_id") in located
    assert ("observation_period", "observation_period_id", "observation_period_end_date") in located


# --------------------------------------------------------------------------- PostgreSQL
POSTGRES_SCHEMAS = {"cdm_schema": "cdm", "vocabulary_schema": "vocab"}


def postgres_problem() -> str | None:
    """Why no PostgreSQL server with the OMOP sample is reachable, or None."""
    try:
        import psycopg

        with psycopg.connect(connect_timeout=5) as connection:
            connection.execute("SELECT count(*) FROM cdm.person").fetchone()
    except Exception as err:  # noqa: BLE001 - any failure means: no usable server
        return f"no PostgreSQL server with the OMOP sample ({' '.join(str(err).split())[:200]})"
    return None


@pytest.fixture(scope="module")
def postgres():
    problem = postgres_problem()
    if problem is None:
        return {k: os.environ.get(f"PG{k.upper()}") for k in ("host", "port", "user")} | {
            "dbname": os.environ.get("PGDATABASE")}
    message = f"{problem}; start one with scripts/postgres/start-server.sh (or: make test-postgres)"
    if os.environ.get("SMANH_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"a PostgreSQL server is required here (SMANH_REQUIRE_POSTGRES=1): {message}")
    pytest.skip(message)


@pytest.mark.postgres
def test_postgres_route_gives_identical_tables(postgres):
    from_postgres = read_registry(format="omop", omop={"postgres": {}, **POSTGRES_SCHEMAS})
    assert_same_tables(read_registry(SAMPLE), from_postgres)
    assert any(s.name.startswith("postgresql://") for s in from_postgres.sources)


@pytest.mark.postgres
@pytest.mark.workflow
def test_postgres_workflow_gives_byte_identical_tables(postgres, sample_run, tmp_path):
    run_dir = tmp_path / "postgres"
    settings = "".join(f"      {k}: {v}\n" for k, v in postgres.items() if v)
    result = run_snakemake(run_dir, f"registry:\n  format: omop\n  omop:\n    postgres:\n{settings}"
                                    "    cdm_schema: cdm\n    vocabulary_schema: vocab\n")
    assert result.returncode == 0, result.stderr[-4000:]
    expected = sorted((sample_run / "results" / "tables").glob("*.csv"))
    different = [p.name for p in expected if (run_dir / "results" / "tables" / p.name).read_bytes() != p.read_bytes()]
    assert not different, f"tables differ between the canonical and the PostgreSQL route: {different}"


@pytest.mark.postgres
def test_postgres_wrong_password_and_database_are_clear(postgres, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "wrong-Password-123")
    with pytest.raises(OmopError) as error:
        read_registry(format="omop", omop={"postgres": {}, **POSTGRES_SCHEMAS})
    message = str(error.value)
    assert "password authentication failed" in message
    assert "check registry.omop.postgres.user and the password in PGPASSWORD or ~/.pgpass" in message
    assert "wrong-Password-123" not in message
    monkeypatch.undo()
    with pytest.raises(OmopError, match="check registry.omop.postgres.dbname"):
        read_registry(format="omop", omop={"postgres": {"dbname": "no_such_database"}, **POSTGRES_SCHEMAS})


@pytest.mark.postgres
def test_postgres_missing_schema_is_clear(postgres):
    with pytest.raises(OmopError, match=r"schema 'omop' has no tables .*schemas in the database: .*cdm"):
        read_registry(format="omop", omop={"postgres": {}, "cdm_schema": "omop"})
