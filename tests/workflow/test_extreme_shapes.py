"""The whole workflow on exports at the extremes real registries reach: a handful of
patients, no events at all, no assessments. Each runs to a complete report with no
traceback; what cannot be estimated is said in its section and under warnings."""

import re

import pandas as pd
import pytest

from conftest import SAMPLE, run_snakemake

pytestmark = pytest.mark.workflow

TABLES = ("patients", "events", "treatments", "assessments")


def sample(**keep):
    """The sample registry's tables as text, each filtered by ``keep[table]`` (a function)."""
    tables = {t: pd.read_csv(SAMPLE / f"{t}.csv", dtype=str, keep_default_na=False) for t in TABLES}
    return {t: keep[t](frame) if t in keep else frame for t, frame in tables.items()}


def three_patients(tables):
    ids = set(tables["patients"]["patient_id"].iloc[:3])
    return {t: frame[frame["patient_id"].isin(ids)] for t, frame in tables.items()}


SHAPES = {
    "three_patients": lambda: three_patients(sample()),
    "no_events": lambda: sample(patients=lambda p: p.assign(death_date=""), events=lambda e: e.iloc[:0],
                                treatments=lambda t: t.iloc[:0]),
    "no_assessments": lambda: sample(assessments=lambda a: a.iloc[:0]),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_extreme_export_runs_to_a_complete_report(shape, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for name, frame in SHAPES[shape]().items():
        frame.to_csv(export / f"{name}.csv", index=False)
    run_dir = tmp_path / "run"
    result = run_snakemake(run_dir, f"registry:\n  path: {export}\n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = (run_dir / "results" / "report" / "report.html").read_text()
    warnings = report[report.index('id="warnings"'):report.index('id="provenance"')]
    front = report[:report.index('<h2 id="methods">')]
    if shape == "no_events":
        # one line each in the first page's "Not recorded" table, no empty section
        assert front.count('<td class="text">endpoint</td>') == 7  # every endpoint
        assert "the export holds no deaths" in front
        assert "Not recorded in the export, so not estimated: death or permanent ventilation, death" in warnings
        assert 'class="endpoint"' not in report
    if shape == "no_assessments":
        assert front.count('<td class="text">scale</td>') == 6  # every scale
        assert "the export holds no HFMSE assessments" in front
        assert "Not recorded in the export, so not estimated: HFMSE" in warnings
        assert 'id="scale-HFMSE"' not in report
    if shape == "three_patients":
        assert re.search(r"endpoint × stratum combinations have fewer than 10 patients", warnings)
    slopes = pd.read_csv(run_dir / "results" / "tables" / "lmm_slopes.csv")
    assert set(slopes["scale"]) == {"HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT"}
