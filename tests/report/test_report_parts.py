"""The report's parts on hand cases: the first page's key estimates (only flag-free ones),
the limitations' numbers under the count rules, notes as footnotes, the number formats,
the forest plot's labels and ticks, the STROBE checklist."""

import math

import pandas as pd
from report.disclosure_audit import audit_html
from shapes import run_in_process

from conftest import SAMPLE
from smanh.disclosure import plain_text
from smanh.figures.forest import forest_figure, log_ticks, subset_label, term_label
from smanh.report.display import display_table, format_number, format_p, note_phrase, tabulate
from smanh.report.front_page import facts, key_medians, key_slopes, registry_facts
from smanh.report.limitations import _exclusions, _share
from smanh.report.strobe import strobe_checklist

NAN = float("nan")


def km_rows():
    rows = [
        # endpoint, by, stratum, n, events, note, median, lo, hi
        ("death", "all", "all", 100, 40, "", 2.0, 1.5, 2.5),
        ("death", "sma_type", "1", 50, 30, "landmark age(s) 5 outside the estimable range 0.1–4.0 years", 1.0, 0.8, 1.2),
        ("death", "sma_type", "2", 30, 3, "", 9.0, 8.0, 10.0),  # fewer than 5 events: not shown
        ("death", "sma_type", "3", 20, 6, "fewer than 10 patients (analysis.min_stratum_size)", 30.0, 20.0, 40.0),
        ("walk", "all", "all", 40, 10, "", 12.0, 10.0, NAN),  # upper limit not reached
    ]
    return pd.DataFrame(rows, columns=["endpoint", "stratify_by", "stratum", "n", "events", "note",
                                       "median_years", "median_lo", "median_hi"])


def test_key_medians_show_only_flag_free_estimates_with_both_limits():
    table = key_medians(km_rows(), 5, empty={})
    death = table[table["endpoint"] == "death"].iloc[0]
    assert death["all"] == "2.0 (1.5 to 2.5)"
    assert death["type 1"] == "1.0 (0.8 to 1.2)"  # a landmark note qualifies the landmarks only
    assert death["type 2"] == "—"  # fewer than T events
    assert death["type 3"] == "—"  # a note
    assert "walk" not in set(table["endpoint"])  # nothing estimable: no row
    assert key_medians(km_rows(), 5, empty={"death": "not recorded"}).empty


def test_key_slopes_leave_out_noted_fits():
    slopes = pd.DataFrame({
        "scale": ["HFMSE", "HFMSE", "RULM"], "stratify_by": ["sma_type"] * 3, "stratum": [2.0, 3.0, 2.0],
        "n_patients": [40, 30, 20], "slope_per_year": [-0.5, -0.3, -0.2], "se": [0.1] * 3,
        "lo": [-0.7, -0.5, -0.4], "hi": [-0.3, -0.1, 0.0], "note": ["", "singular fit", ""]})
    table = key_slopes(slopes, {})
    assert list(table.columns) == ["scale", "type 2", "type 3"]  # levels by name, not 2.0
    assert table.iloc[0]["type 2"] == "-0.50 (-0.70 to -0.30)" and table.iloc[0]["type 3"] == "—"
    assert table.iloc[1]["type 2"] == "-0.20 (-0.40 to 0.00)"


def test_facts_sites_under_the_count_rules_and_first_enrolment_as_a_month():
    patients = pd.DataFrame({"enrolment_date": pd.to_datetime(["2010-03-15", "2008-01-07", None]),
                             "site": ["A", "B", None]})
    known = registry_facts(patients)
    assert known == {"first_enrolment": "2008-01", "sites": 2, "patients_with_site": 2}
    flow = pd.DataFrame({"endpoint": ["all", "all"], "step": ["export", "validated"], "reason": ["", ""], "n": [3, 3]})
    summary = {"registry": {"data_cutoff": "2026-01-01"}, "registry_facts": known,
               "config": {"report": {"individual_level_figures": True}}}
    shown = facts(summary, flow, 5)
    assert shown["sites"] == "<5" and shown["patients_in_export"] == "<5" and shown["individual_level_figures"]


def test_limitations_hide_small_counts_and_their_percentages():
    assert _share(3, 100, 5) == "<5"
    assert _share(43, 100, 5) == "43 (43%)"
    flow = pd.DataFrame({
        "endpoint": ["all", "all", "death", "death", "walk", "walk"],
        "step": ["export", "excluded", "excluded", "excluded", "excluded", "excluded"],
        "reason": ["patients in export", "bad date", "treated on or before entry", "no follow-up after entry",
                   "treated on or before entry", "no follow-up after entry"],
        "n": [100, 2, 30, 3, 12, 0]})
    lines = _exclusions(flow, 5, set())
    assert "Excluded at validation: <5 patients." in lines
    assert "Excluded (treated on or before entry): from 12 to 30 patients (every endpoint)." in lines
    assert "Excluded (no follow-up after entry): <5 patients (death)." in lines


def test_formats_no_nan_p_below_a_thousandth_integer_df():
    assert format_p(1e-12) == "< 0.001" and format_p(0.0123) == "0.012" and format_p(0.5) == "0.50"
    assert format_p(NAN) == "—" and format_number(NAN) == "—" and format_number(-0.001) == "0.00"
    shown = display_table(pd.DataFrame({"stratify_by": ["sma_type"], "df": [4.0], "p": [0.0], "note": [NAN]}), 5)
    assert shown.iloc[0].tolist() == ["sma_type", "4", "< 0.001", ""]


def test_notes_become_a_phrase_and_a_numbered_footnote():
    long = "never 10 patients at risk at once (analysis.min_at_risk): no estimable range"
    assert note_phrase(long) == "not estimable" and note_phrase("pooled model") == "pooled model"
    left_out = "60 with unknown smn2_copies left out; 3 with unknown sex left out"
    html = str(tabulate(pd.DataFrame({"stratum": ["1", "2", "3"], "n": ["10", "20", "30"],
                                      "note": [long, NAN, left_out]}), "km_summary", 1, 5))
    assert "not estimable<sup>1</sup>" in html and "some left out<sup>2</sup>" in html
    assert f"<sup>1</sup> {long}.</span>" in html
    # a small count in a note, whatever word follows it
    assert "<sup>2</sup> 60 with unknown smn2_copies left out; fewer than 5 with unknown sex left out.</span>" in html
    assert '<p class="source">results/share/km_summary.csv</p>' in html
    assert "nan" not in html


def test_forest_labels_and_ticks():
    assert term_label("sma_type2", "sma_type=1") == "type 2 vs type 1"
    assert term_label("smn2_copies4+", "smn2_copies=2") == "SMN2 copies 4+ vs 2"
    assert term_label("sexM", "sex=F") == "sex M vs F"
    assert subset_label("sma_type in ['1']") == "type 1 only" and subset_label(NAN) == "all types"
    assert log_ticks(0.5, 2.0) == [0.5, 1.0, 2.0]
    ticks = log_ticks(0.9, 1.1)  # a narrow range still gets three named ticks around 1
    assert len(ticks) >= 3 and 1.0 in ticks
    wide = log_ticks(0.001, 50)
    assert all(math.isclose(math.log10(t), round(math.log10(t))) for t in wide)
    cox = pd.DataFrame({"endpoint": ["death"], "model": ["m"], "subset": [NAN], "term": ["sma_type2"],
                        "reference": ["sma_type=1"], "n": ["1,603"], "events": ["≈460"], "hr": [0.05],
                        "hr_lo": [0.03], "hr_hi": [0.1], "ph_violated": [False]})
    figure = forest_figure(cox)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["death · all types · type 2 vs type 1"]
    assert "1,603 / ≈460" in [t.get_text() for t in ax.texts]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "0.1", "0.2", "0.5", "1"]


def test_strobe_has_the_22_items():
    items = strobe_checklist()
    assert [r["item"] for r in items] == [str(i) for i in range(1, 23)]
    assert all(r["anchor"] or "outside" in r["remark"] for r in items)


def test_small_counts_in_sentences_are_written_fewer_than_the_threshold():
    assert plain_text("3 deaths are dated after; 12 patients; fewer than 10 patients; 0 events", 5) == (
        "fewer than 5 deaths are dated after; 12 patients; fewer than 10 patients; 0 events")


def test_a_report_with_individual_level_figures_says_so_on_its_first_page(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    patients = pd.read_csv(SAMPLE / "patients.csv", dtype=str, keep_default_na=False).iloc[:60]
    for name in ("patients", "events", "treatments", "assessments"):
        frame = pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False)
        frame[frame["patient_id"].isin(patients["patient_id"])].to_csv(export / f"{name}.csv", index=False)
    config = {"report": {"individual_level_figures": True},
              "progression": {"scales": ["HFMSE"]}}
    html = run_in_process(export, tmp_path / "out", config, draw_figures=False)["html"]
    front = html[:html.index('<h2 id="methods">')]
    assert "This report contains individual-level data" in front
    assert audit_html(html, 5) == []


def test_limitations_say_how_many_have_records_or_deaths_after_last_contact():
    from smanh.report.limitations import data_limitations

    quality = pd.DataFrame(
        [("after_last_contact", "all", "", "rows", 31), ("after_last_contact", "all", "", "patients", 12),
         ("recorded", "patients", "death_after_last_contact", "patients", 3)],
        columns=["section", "table", "field", "statistic", "value"])
    flow = pd.DataFrame({"endpoint": ["all"], "step": ["export"], "reason": ["patients in export"], "n": [100]})
    summary = {"config": {"analysis": {"censor_at_treatment": True}, "registry": {}}, "registry": {}}
    lines = data_limitations({"data_quality": quality, "cohort_flow": flow}, summary, 5,
                             {"endpoints": {}, "scales": []})
    assert any(line.startswith("12 patients have records dated after their last contact: follow-up ends at last "
                               "contact") for line in lines)
    assert any(line.startswith("<5 deaths are dated after the patient's last contact") for line in lines)
    summary["config"]["registry"]["vital_status_date"] = "2024-12-31"  # deaths ascertained: no such limitation
    lines = data_limitations({"data_quality": quality, "cohort_flow": flow}, summary, 5,
                             {"endpoints": {}, "scales": []})
    assert not any("deaths are dated after" in line for line in lines)
