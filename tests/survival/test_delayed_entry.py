"""Delayed entry matters: on the sample registry, where patients enrol only if alive and
free of death and permanent ventilation, the naive analysis (follow-up from birth)
overestimates survival and the delayed-entry one recovers the simulated truth."""

import numpy as np
import pytest

from conftest import SAMPLE
from smanh.cohort.dataset import analysis_dataset
from smanh.ingest.registry import read_registry
from smanh.survival.km import kaplan_meier
from smanh.survival.km_tables import analysed
from smanh.synthetic.natural_history import true_median, true_survival

ENDPOINT = "death_or_permanent_ventilation"


@pytest.fixture(scope="module")
def dataset():
    return analysed(analysis_dataset(read_registry(SAMPLE), [ENDPOINT]))


@pytest.mark.parametrize("group", ["1", "2"])
def test_delayed_entry_recovers_the_truth_and_naive_overestimates(dataset, group):
    rows = dataset[dataset["sma_type_group"] == group]
    truth = true_median(ENDPOINT, group)
    delayed = kaplan_meier(rows["entry_age"], rows["exit_age"], rows["event"])
    naive = kaplan_meier(np.zeros(len(rows)), rows["exit_age"], rows["event"])

    median, lo, hi = delayed.median()
    assert lo <= truth <= hi, f"type {group}: truth {truth:.3f} outside CI [{lo:.3f}, {hi:.3f}]"

    naive_median, naive_lo, _ = naive.median()
    assert naive_median > truth and naive_lo > truth, "naive CI lies wholly above the truth"
    assert naive_median > median


def test_naive_curve_lies_above_the_delayed_entry_curve(dataset):
    rows = dataset[dataset["sma_type_group"] == "1"]
    ages = np.array([0.5, 1.0, 1.5, 2.0])
    delayed = kaplan_meier(rows["entry_age"], rows["exit_age"], rows["event"])
    naive = kaplan_meier(np.zeros(len(rows)), rows["exit_age"], rows["event"])
    truth = true_survival(ENDPOINT, "1", ages)
    assert (naive.survival_at(ages) > delayed.survival_at(ages)).all()
    assert (naive.survival_at(ages) > truth).all()
    # The delayed-entry curve stays within its pointwise band of the truth.
    index = np.searchsorted(delayed.time, ages, side="right") - 1
    assert (delayed.lower[index] <= truth).all() and (truth <= delayed.upper[index]).all()
