"""Every valid export runs to a report, whatever its shape (issue: registries unlike the
sample). Hypothesis draws small registries across the shapes of tests/shapes.py, with a
config of a few endpoints, stratifications and scales, and runs every function the rules
call, in process: nothing may raise, every configured part keeps its rows, every patient
is accounted for."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
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


def test_the_strategies_reach_every_shape():
    """The registries drawn above can take every shape the issue lists: 400 draws (no
    analysis run, no shrinking) meet each of them, so the shapes are not left to the luck of
    the 30 examples above."""
    def deaths(t):
        return t["patients"]["death_date"] if "death_date" in t["patients"] else None

    shapes = {
        "one patient": lambda t: len(t["patients"]) == 1,
        "40 to 60 patients": lambda t: len(t["patients"]) >= 40,
        "one SMA type": lambda t: t["patients"]["sma_type"].nunique() == 1 and len(t["patients"]) > 5,
        "every SMN2 copy number unknown": lambda t: "smn2_copies" in t["patients"]
        and (t["patients"]["smn2_copies"] == "").all() and len(t["patients"]) > 5,
        "optional columns absent": lambda t: not {"sex", "smn2_copies", "site"} & set(t["patients"].columns),
        "no events": lambda t: t["events"].empty and len(t["patients"]) > 5,
        "no treatments": lambda t: t["treatments"].empty and len(t["patients"]) > 5,
        "every patient treated at enrolment": lambda t: len(t["treatments"]) == len(t["patients"]) > 5
        and (t["treatments"]["start_date"].to_numpy() == t["patients"]["enrolment_date"].to_numpy()).all(),
        "no assessments": lambda t: t["assessments"].empty and len(t["patients"]) > 5,
        "no deaths": lambda t: deaths(t) is not None and (deaths(t) == "").all() and len(t["patients"]) > 5,
        "every patient dead": lambda t: deaths(t) is not None and (deaths(t) != "").all() and len(t["patients"]) > 5,
        "ties: same-day records": lambda t: len(t["events"]) > 3 and t["events"].duplicated(["date"]).any(),
    }
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(registries())
    def draw(tables):
        seen.update(name for name, shape in shapes.items() if shape(tables))

    draw()
    assert sorted(set(shapes) - seen) == []
