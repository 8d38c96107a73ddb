"""The sample registry as a REDCap project export (``data/sample_redcap/``).

A longitudinal REDCap project with TREAT-NMD-like field names, written deterministically
from the canonical sample export (``data/sample/``), so that the REDCap route
(:mod:`smanh.ingest.redcap` with ``config/redcap_mapping.yaml``) can be checked against the
canonical route table by table:

* event ``baseline_arm_1``: instruments ``demographics``, ``diagnosis`` and
  ``motor_milestones`` (checkbox ``ms_achieved`` + one date per milestone);
* event ``follow_up_arm_1``: instrument ``vital_status`` and the repeating instruments
  ``clinical_event``, ``dmt`` (disease-modifying treatment) and ``motor_assessment``
  (one instance per assessment date, one field per scale);
* choice fields exported as raw codes, with the labels in the data dictionary's
  ``Choices, Calculations, OR Slider Labels`` column.

Command line (also run by ``make sample``)::

    python -m smanh.synthetic.redcap_sample --sample data/sample --out data/sample_redcap
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

EXPORT_FILE = "redcap_export.csv"
DICTIONARY_FILE = "redcap_data_dictionary.csv"
BASELINE, FOLLOW_UP = "baseline_arm_1", "follow_up_arm_1"
DICTIONARY_COLUMNS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
]
SEX = {"M": ("1", "Male"), "F": ("2", "Female"), "U": ("3", "Unknown / undetermined")}
SMA_TYPE = {
    "0": ("0", "Type 0"), "1": ("1", "Type 1"), "1a": ("11", "Type 1a"), "1b": ("12", "Type 1b"),
    "1c": ("13", "Type 1c"), "2": ("2", "Type 2"), "2a": ("21", "Type 2a"), "2b": ("22", "Type 2b"),
    "3": ("3", "Type 3"), "3a": ("31", "Type 3a"), "3b": ("32", "Type 3b"), "4": ("4", "Type 4"),
    "unknown": ("99", "Unknown"),
}
SMN2 = {str(n): (str(n), f"{n} copies" if n != 1 else "1 copy") for n in range(9)}
SMN2_UNKNOWN = ("99", "Not tested / unknown")
COUNTRY = {"DE": "Germany", "ES": "Spain", "FR": "France", "IT": "Italy", "NL": "Netherlands"}
MILESTONES = {  # canonical event: (checkbox code, label, date field)
    "head_control": ("1", "Head control", "ms_head_control_date"),
    "sits_independently": ("2", "Sitting without support", "ms_sitting_date"),
    "stands_independently": ("3", "Standing without support", "ms_standing_date"),
    "walks_independently": ("4", "Walking without support", "ms_walking_date"),
}
CLINICAL_EVENTS = {
    "permanent_ventilation": ("1", "Permanent ventilation (>= 16 h/day for >= 14 days)"),
    "niv_start": ("2", "Non-invasive ventilation started"),
    "tracheostomy": ("3", "Tracheostomy"),
    "feeding_tube": ("4", "Feeding tube / gastrostomy"),
    "scoliosis_surgery": ("5", "Scoliosis surgery"),
    "loss_of_independent_sitting": ("6", "Loss of independent sitting"),
    "loss_of_independent_walking": ("7", "Loss of independent walking"),
}
DRUGS = {
    "nusinersen": ("1", "Nusinersen (Spinraza)"),
    "onasemnogene_abeparvovec": ("2", "Onasemnogene abeparvovec (Zolgensma)"),
    "risdiplam": ("3", "Risdiplam (Evrysdi)"),
    "other": ("99", "Other"),
}
SCALE_FIELDS = {
    "HFMSE": ("ma_hfmse_total", "HFMSE total score (0-66)"),
    "RULM": ("ma_rulm_total", "RULM total score (0-37)"),
    "CHOP_INTEND": ("ma_chop_intend_total", "CHOP INTEND total score (0-64)"),
    "HINE2": ("ma_hine2_total", "HINE section 2 total score (0-26)"),
    "6MWT": ("ma_6mwt_distance_m", "6-minute walk test distance (m)"),
    "FVC_PCT": ("ma_fvc_pct_pred", "FVC, % predicted"),
}


def _choices(pairs) -> str:
    return " | ".join(f"{code}, {label}" for code, label in pairs)


def _field(name, form, kind, label, choices="", validation="", identifier="", note=""):
    return {
        "Variable / Field Name": name, "Form Name": form, "Field Type": kind, "Field Label": label,
        "Choices, Calculations, OR Slider Labels": choices, "Field Note": note,
        "Text Validation Type OR Show Slider Number": validation, "Identifier?": identifier,
    }


def data_dictionary() -> pd.DataFrame:
    """The project's data dictionary (REDCap's 18 columns)."""
    date = {"validation": "date_ymd"}
    fields = [
        _field("record_id", "demographics", "text", "Pseudonymous patient id"),
        _field("dem_registration_date", "demographics", "text", "Date of registry consent / enrolment", **date),
        _field("dem_sex", "demographics", "radio", "Sex", _choices(SEX.values())),
        _field("dem_dob", "demographics", "text", "Date of birth", identifier="y", **date),
        _field("dem_country", "demographics", "dropdown", "Country of the treating centre",
               _choices(COUNTRY.items())),
        _field("diag_sma_type", "diagnosis", "dropdown", "SMA type (best clinical classification)",
               _choices(SMA_TYPE.values())),
        _field("diag_smn2_copies", "diagnosis", "dropdown", "SMN2 copy number",
               _choices([*SMN2.values(), SMN2_UNKNOWN])),
        _field("diag_onset_date", "diagnosis", "text", "Date of first symptoms", **date),
        _field("diag_genetic_confirmation_date", "diagnosis", "text", "Date of genetic confirmation", **date),
        _field("ms_achieved", "motor_milestones", "checkbox", "Motor milestones ever achieved",
               _choices((code, label) for code, label, _ in MILESTONES.values())),
        *[_field(date_field, "motor_milestones", "text", f"Date achieved: {label}", **date)
          for _, label, date_field in MILESTONES.values()],
        _field("vs_last_contact_date", "vital_status", "text", "Date of last contact", **date),
        _field("vs_status", "vital_status", "radio", "Vital status", _choices([("1", "Alive"), ("2", "Deceased")])),
        _field("vs_death_date", "vital_status", "text", "Date of death", **date),
        _field("ce_type", "clinical_event", "dropdown", "Clinical event", _choices(CLINICAL_EVENTS.values())),
        _field("ce_date", "clinical_event", "text", "Date of the event", **date),
        _field("dmt_drug", "dmt", "radio", "Disease-modifying treatment", _choices(DRUGS.values())),
        _field("dmt_start_date", "dmt", "text", "Start date", **date),
        _field("dmt_end_date", "dmt", "text", "End date (blank = ongoing)", **date),
        _field("ma_date", "motor_assessment", "text", "Date of assessment", **date),
        *[_field(name, "motor_assessment", "text", label, validation="integer")
          for name, label in SCALE_FIELDS.values()],
    ]
    return pd.DataFrame(fields, columns=DICTIONARY_COLUMNS).fillna("")


def export_columns(dictionary: pd.DataFrame) -> list[str]:
    """Columns of a flat export: ids, then fields (checkboxes expanded), each form's
    ``<form>_complete`` after its fields."""
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    forms: list[str] = []
    for field in dictionary.itertuples(index=False):
        name, form, kind, choices = field[0], field[1], field[3], field[5]
        if forms and form != forms[-1]:
            columns.append(f"{forms[-1]}_complete")
        if not forms or form != forms[-1]:
            forms.append(form)
        if name == "record_id":
            continue
        if kind == "checkbox":
            columns += [f"{name}___{c.split(',')[0].strip()}" for c in choices.split("|")]
        else:
            columns.append(name)
    columns.append(f"{forms[-1]}_complete")
    return columns


def redcap_export(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The flat REDCap export (raw codes) of a canonical export given as text tables."""
    patients, events = tables["patients"], tables["events"]
    treatments, assessments = tables["treatments"], tables["assessments"]
    rows: list[dict] = []
    milestones = events[events["event"].isin(MILESTONES)]
    if milestones.duplicated(["patient_id", "event"]).any():
        raise ValueError("a milestone recorded twice for a patient cannot be a REDCap checkbox")
    by_patient = {name: frame.groupby("patient_id", sort=False) for name, frame in (
        ("milestones", milestones), ("events", events[~events["event"].isin(MILESTONES)]),
        ("treatments", treatments), ("assessments", assessments))}
    groups = {name: dict(iter(g)) for name, g in by_patient.items()}
    for p in patients.itertuples(index=False):
        record = p.patient_id
        baseline = {
            "record_id": record, "redcap_event_name": BASELINE,
            "dem_registration_date": p.enrolment_date, "dem_sex": SEX[p.sex][0] if p.sex else "",
            "dem_dob": p.birth_date, "dem_country": p.site,
            "demographics_complete": "2",
            "diag_sma_type": SMA_TYPE[p.sma_type][0],
            "diag_smn2_copies": SMN2[p.smn2_copies][0] if p.smn2_copies else SMN2_UNKNOWN[0],
            "diag_onset_date": p.onset_date, "diag_genetic_confirmation_date": p.diagnosis_date,
            "diagnosis_complete": "2", "motor_milestones_complete": "2",
        }
        achieved = groups["milestones"].get(record)
        done = dict(zip(achieved["event"], achieved["date"])) if achieved is not None else {}
        for event, (code, _, date_field) in MILESTONES.items():
            baseline[f"ms_achieved___{code}"] = "1" if event in done else "0"
            baseline[date_field] = done.get(event, "")
        rows.append(baseline)
        rows.append({
            "record_id": record, "redcap_event_name": FOLLOW_UP,
            "vs_last_contact_date": p.last_contact_date, "vs_status": "2" if p.death_date else "1",
            "vs_death_date": p.death_date, "vital_status_complete": "2",
        })
        for instrument, name, fill in (
            ("clinical_event", "events", lambda r: {"ce_type": CLINICAL_EVENTS[r.event][0], "ce_date": r.date}),
            ("dmt", "treatments", lambda r: {"dmt_drug": DRUGS[r.treatment][0], "dmt_start_date": r.start_date,
                                             "dmt_end_date": r.end_date}),
        ):
            frame = groups[name].get(record)
            for instance, r in enumerate(frame.itertuples(index=False) if frame is not None else [], start=1):
                rows.append({"record_id": record, "redcap_event_name": FOLLOW_UP,
                             "redcap_repeat_instrument": instrument, "redcap_repeat_instance": str(instance),
                             **fill(r), f"{instrument}_complete": "2"})
        scores = groups["assessments"].get(record)
        if scores is not None:
            for instance, (date, visit) in enumerate(scores.groupby("date", sort=True), start=1):
                row = {"record_id": record, "redcap_event_name": FOLLOW_UP,
                       "redcap_repeat_instrument": "motor_assessment", "redcap_repeat_instance": str(instance),
                       "ma_date": date, "motor_assessment_complete": "2"}
                row.update({SCALE_FIELDS[s][0]: v for s, v in zip(visit["scale"], visit["score"])})
                rows.append(row)
    dictionary = data_dictionary()
    return pd.DataFrame(rows, columns=export_columns(dictionary)).fillna("")


def with_labels(export: pd.DataFrame, dictionary: pd.DataFrame) -> pd.DataFrame:
    """The same export as REDCap writes it with 'labels' for choices (raw headers):
    choice codes become labels, ticked checkboxes 'Checked', others 'Unchecked'."""
    labelled = export.copy()
    for field in dictionary.itertuples(index=False):
        name, kind, choices = field[0], field[3], field[5]
        if kind in ("radio", "dropdown"):
            codes = dict(tuple(s.strip() for s in c.split(",", 1)) for c in choices.split("|"))
            labelled[name] = labelled[name].map(lambda v: codes.get(v, v))
        elif kind == "checkbox":
            for column in [c for c in export.columns if c.startswith(f"{name}___")]:
                labelled[column] = labelled[column].map({"1": "Checked", "0": "Unchecked", "": ""})
    return labelled


def write_redcap_sample(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the export and its data dictionary (UTF-8, comma, ``\\n``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in ((EXPORT_FILE, redcap_export(tables)), (DICTIONARY_FILE, data_dictionary())):
        with open(out / name, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
        written.append(out / name)
    return written


def read_text_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    return {
        name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in ("patients", "events", "treatments", "assessments")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smanh.synthetic.redcap_sample", description=__doc__.splitlines()[0])
    parser.add_argument("--sample", required=True, help="canonical export folder (e.g. data/sample)")
    parser.add_argument("--out", required=True, help="output folder (e.g. data/sample_redcap)")
    args = parser.parse_args(argv)
    written = write_redcap_sample(read_text_tables(args.sample), args.out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
