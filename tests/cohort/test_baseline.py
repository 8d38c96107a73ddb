"""Table 1 numbers on a tiny export, computed by hand."""

import numpy as np
import pytest

from conftest import patient
from smanh.cohort.baseline import table1
from smanh.ingest.registry import read_registry


@pytest.fixture
def table(export_folder):
    folder = export_folder(
        patients=[
            # enrolment ages 2, 3, 5 (type 2) and 1 (type 1); follow-up 8, 7, 5 and 1 years
            patient("A", sex="F", smn2_copies="3"),
            patient("B", sex="M", smn2_copies="3", enrolment_date="2013-01-01"),
            patient("C", sex="", smn2_copies="", enrolment_date="2015-01-01"),
            patient("D", sma_type="1b", smn2_copies="2", birth_date="2019-01-01", onset_date="2019-02-01",
                    diagnosis_date="2019-03-01", enrolment_date="2020-01-01", last_contact_date="2021-01-01",
                    death_date="2021-01-01"),
        ],
        treatments=[
            {"patient_id": "A", "treatment": "nusinersen", "start_date": "2018-01-01", "end_date": "2019-01-01"},
            {"patient_id": "A", "treatment": "risdiplam", "start_date": "2019-01-01", "end_date": ""},
            {"patient_id": "D", "treatment": "onasemnogene_abeparvovec", "start_date": "2020-06-01", "end_date": ""},
        ],
    )
    return table1(read_registry(folder)).set_index(["characteristic", "level", "sma_type"])


def test_counts_and_percentages(table):
    assert table.loc[("patients", "all", "all"), "n"] == 4
    assert table.loc[("patients", "all", "2"), "n"] == 3
    assert table.loc[("sex", "unknown", "2"), "n"] == 1
    assert table.loc[("sex", "F", "2"), "percent"] == pytest.approx(100 / 3)
    assert table.loc[("smn2_copies", "3", "all"), "n"] == 2
    assert table.loc[("smn2_copies", "unknown", "2"), "n"] == 1
    assert table.loc[("treated", "any", "all"), "n"] == 2
    assert table.loc[("treated", "risdiplam", "2"), "n"] == 1
    assert table.loc[("treated", "onasemnogene_abeparvovec", "1"), "n"] == 1
    assert table.loc[("died", "yes", "1"), "n"] == 1


def test_medians_and_quartiles(table):
    enrolment = table.loc[("age_at_enrolment", "median_iqr", "2")]
    ages = np.array([730, 1096, 1826]) / 365.25  # days from 2010-01-01 to 2012, 2013, 2015
    assert enrolment["median"] == pytest.approx(ages[1])
    # R's default quantile (type 7): linear between order statistics.
    assert enrolment["q1"] == pytest.approx((ages[0] + ages[1]) / 2)
    assert enrolment["q3"] == pytest.approx((ages[1] + ages[2]) / 2)
    years = table.loc[("person_years", "sum", "2"), "median"]
    assert years == pytest.approx((3652 - 730 + 3652 - 1096 + 3652 - 1826) / 365.25)
