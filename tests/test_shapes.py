"""Every valid export runs to a report, whatever its shape (issue: registries unlike the
sample). Hypothesis draws small registries across the shapes of tests/shapes.py, with a
config of a few endpoints, stratifications and scales, and runs every function the rules
call, in process: nothing may raise, every configured part keeps its rows, every patient
is accounted for."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report.disclosure_audit import audit, audit_html
from shapes import configs, registries, run_in_process, write_registry

from smanh.config.endpoints import endpoint_names


@st.composite
def registry_and_config(draw):
    tables = draw(registries())
    return tables, draw(configs(tables))


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(registry_and_config())
def test_any_valid_registry_runs_to_a_report(case):
    tables, config = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        result = run_in_process(write_registry(tables, folder / "export"), folder / "out", config,
                                draw_figures=False)
    out = result["tables"]
    assert '<h2 id="warnings">' in result["html"]
    endpoints = endpoint_names(config["analysis"]["endpoints"])
    assert set(out["km_summary"]["endpoint"]) == set(endpoints)
    if config["progression"]["scales"]:
        assert set(out["lmm_slopes"]["scale"]) == set(config["progression"]["scales"])
        assert set(out["change_12m"]["scale"]) == set(config["progression"]["scales"])
    summary = out["km_summary"]
    assert not ((summary["median_years"] < summary["median_lo"]) | (summary["median_years"] > summary["median_hi"])).any()
    for name in ("km_curves", "cuminc"):
        curve = out[name]
        assert ((curve["time_years"] > curve["from_age"]) & (curve["time_years"] <= curve["to_age"])).all(), name
    assert audit(result["released"], 5) == []  # nothing released discloses a small count
    assert audit_html(result["html"], 5) == []  # nor does the report: every number in its text
    flow = out["cohort_flow"]
    validated = int(flow.loc[flow["step"] == "validated", "n"].iloc[0])
    assert validated == len(tables["patients"])
    for name in endpoints:
        rows = flow[flow["endpoint"] == name]
        assert rows.loc[rows["step"].isin(["excluded", "analysed"]), "n"].sum() == validated
