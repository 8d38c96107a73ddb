"""Malformed canonical exports, each a few literal lines: files and the exact problems.

Every case is ``name: (files, problems)``; ``files`` maps a file name to its text (str,
written as UTF-8) or bytes; tables not given are header-only. ``problems`` lists
``(file, line, column, value, rule)`` exactly as ``read_registry`` reports them.
"""

import datetime as dt

# The default data cut-off is the run date.
AFTER_CUTOFF = f"date after the data cut-off ({dt.date.today().isoformat()})"

PATIENTS_HEADER = (
    "patient_id,sex,birth_date,sma_type,smn2_copies,onset_date,diagnosis_date,"
    "enrolment_date,last_contact_date,death_date,site"
)
HEADERS = {
    "patients.csv": PATIENTS_HEADER,
    "events.csv": "patient_id,event,date",
    "treatments.csv": "patient_id,treatment,start_date,end_date",
    "assessments.csv": "patient_id,date,scale,score",
}
P1 = "P1,F,2010-01-01,2,3,2010-09-01,2011-01-01,2012-01-01,2020-01-01,,DE"
P2 = "P2,M,2011-05-05,1b,2,2011-07-01,2011-08-01,2012-02-01,2019-06-30,,FR"
TYPES = "must be one of: 0, 1, 1a, 1b, 1c, 2, 2a, 2b, 3, 3a, 3b, 4, unknown"
DATE = "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)"
EVENTS = ("must be one of: permanent_ventilation, niv_start, tracheostomy, feeding_tube, scoliosis_surgery, "
          "loss_of_independent_sitting, loss_of_independent_walking, head_control, sits_independently, "
          "stands_independently, walks_independently")


def patients(*rows: str) -> str:
    return "\n".join([PATIENTS_HEADER, *rows]) + "\n"


def table(name: str, *rows: str) -> str:
    return "\n".join([HEADERS[name], *rows]) + "\n"


CASES = {
    "missing_required_column": (
        {"patients.csv": "patient_id,sex,birth_date,enrolment_date,last_contact_date\n"
                         "P1,F,2010-01-01,2012-01-01,2020-01-01\n"},
        [("patients.csv", 1, "sma_type", "", "required column is missing")],
    ),
    "unknown_sma_type": (
        {"patients.csv": patients(P1.replace(",2,3,", ",5,3,"), P2)},
        [("patients.csv", 2, "sma_type", "5", TYPES)],
    ),
    "score_out_of_range": (
        {"patients.csv": patients(P1),
         "assessments.csv": table("assessments.csv", "P1,2013-01-01,HFMSE,70", "P1,2013-01-01,RULM,37")},
        [("assessments.csv", 2, "score", "70", "HFMSE score must be between 0 and 66")],
    ),
    "death_before_birth": (
        {"patients.csv": patients("P1,F,2010-01-01,2,3,,,2010-02-01,2010-03-01,2009-12-31,DE")},
        [("patients.csv", 2, "death_date", "2009-12-31", "death before birth"),
         ("patients.csv", 2, "death_date", "2009-12-31", "enrolment after death"),
         ("patients.csv", 2, "death_date", "2009-12-31", "last contact after death")],
    ),
    "event_after_death": (
        {"patients.csv": patients("P1,F,2010-01-01,1a,2,2010-02-01,2010-03-01,2010-04-01,2011-01-01,2011-01-01,DE"),
         "events.csv": table("events.csv", "P1,niv_start,2010-06-01", "P1,permanent_ventilation,2011-02-01")},
        [("events.csv", 3, "date", "2011-02-01", "date after the patient's death")],
    ),
    "event_in_the_future": (
        {"patients.csv": patients(P1), "events.csv": table("events.csv", "P1,permanent_ventilation,2099-01-01")},
        [("events.csv", 2, "date", "2099-01-01", AFTER_CUTOFF)],
    ),
    "death_in_the_future": (
        {"patients.csv": patients(P1[:-3] + "2099-05-01,DE")},
        [("patients.csv", 2, "death_date", "2099-05-01", AFTER_CUTOFF)],
    ),
    "treatment_and_assessment_after_death": (
        {"patients.csv": patients("P1,F,2010-01-01,1a,2,2010-02-01,2010-03-01,2010-04-01,2011-01-01,2011-01-01,DE"),
         "treatments.csv": table("treatments.csv", "P1,nusinersen,2011-03-01,"),
         "assessments.csv": table("assessments.csv", "P1,2010-06-01,CHOP_INTEND,20", "P1,2011-06-01,CHOP_INTEND,18")},
        [("assessments.csv", 3, "date", "2011-06-01", "date after the patient's death"),
         ("treatments.csv", 2, "start_date", "2011-03-01", "date after the patient's death")],
    ),
    "duplicate_patient_conflicting_rows": (
        {"patients.csv": patients(P1, P2, P1.replace(",F,", ",M,"))},
        [("patients.csv", 2, "patient_id", "P1", "patient_id is not unique"),
         ("patients.csv", 4, "patient_id", "P1", "patient_id is not unique")],
    ),
    "assessment_for_unknown_patient": (
        {"patients.csv": patients(P1), "assessments.csv": table("assessments.csv", "P9,2013-01-01,RULM,12")},
        [("assessments.csv", 2, "patient_id", "P9", "patient_id not in patients.csv")],
    ),
    "empty_file": (
        {"patients.csv": patients(P1), "events.csv": ""},
        [("events.csv", 0, "", "", "file is empty (no header row)")],
    ),
    "header_only_patients": (
        {"patients.csv": patients()},
        [("patients.csv", 0, "", "", "no patients: the table has a header but no rows")],
    ),
    "wrong_delimiter_tab": (
        {"patients.csv": patients(P1).replace(",", "\t")},
        [("patients.csv", 1, "", "", "columns must be separated by commas or semicolons, found tab")],
    ),
    "latin1_names": (
        {"patients.csv": patients(P1.replace(",F,", ",Männlich,").replace(",DE", ",Zürich")).encode("latin-1")},
        [("patients.csv", 2, "sex", "Männlich", "must be one of: M, F, U")],
    ),
    "unparseable_date": (
        {"patients.csv": patients(P1.replace("2010-01-01", "2010-13-45"), P2)},
        [("patients.csv", 2, "birth_date", "2010-13-45", DATE)],
    ),
    "enrolment_after_last_contact": (
        {"patients.csv": patients(P1.replace("2020-01-01", "2011-12-31"))},
        [("patients.csv", 2, "last_contact_date", "2011-12-31", "enrolment after last contact")],
    ),
    "missing_patients_file": (
        {"patients.csv": None},
        [("patients.csv", 0, "", "", "required file is missing")],
    ),
    "blank_required_value": (
        {"patients.csv": patients(P1.replace("2010-01-01", ""))},
        [("patients.csv", 2, "birth_date", "", "required value is blank")],
    ),
    "smn2_copies_out_of_range": (
        {"patients.csv": patients(P1.replace(",2,3,", ",2,9,"))},
        [("patients.csv", 2, "smn2_copies", "9", "must be between 0 and 8")],
    ),
    "smn2_copies_not_whole": (
        {"patients.csv": patients(P1.replace(",2,3,", ",2,2.5,"))},
        [("patients.csv", 2, "smn2_copies", "2.5", "must be a whole number of at most 15 digits")],
    ),
    "smn2_copies_beyond_int64": (
        {"patients.csv": patients(P1.replace(",2,3,", ",2,12345678901234567890,"))},
        [("patients.csv", 2, "smn2_copies", "12345678901234567890",
          "must be a whole number of at most 15 digits")],
    ),
    "unknown_event": (
        {"patients.csv": patients(P1), "events.csv": table("events.csv", "P1,walking,2012-05-01")},
        [("events.csv", 2, "event", "walking", EVENTS)],
    ),
    "unknown_treatment": (
        {"patients.csv": patients(P1), "treatments.csv": table("treatments.csv", "P1,spinraza,2018-01-01,")},
        [("treatments.csv", 2, "treatment", "spinraza",
          "must be one of: nusinersen, onasemnogene_abeparvovec, risdiplam, other")],
    ),
    "treatment_ends_before_start": (
        {"patients.csv": patients(P1), "treatments.csv": table("treatments.csv", "P1,risdiplam,2018-01-01,2017-12-01")},
        [("treatments.csv", 2, "end_date", "2017-12-01", "treatment ends before it starts")],
    ),
    "event_before_birth": (
        {"patients.csv": patients(P1), "events.csv": table("events.csv", "P1,head_control,2009-12-01")},
        [("events.csv", 2, "date", "2009-12-01", "date before the patient's birth")],
    ),
    "unknown_scale": (
        {"patients.csv": patients(P1), "assessments.csv": table("assessments.csv", "P1,2013-01-01,MFM32,40")},
        [("assessments.csv", 2, "scale", "MFM32", "must be one of: HFMSE, RULM, CHOP_INTEND, HINE2, 6MWT, FVC_PCT")],
    ),
    "score_not_a_number": (
        {"patients.csv": patients(P1), "assessments.csv": table("assessments.csv", "P1,2013-01-01,RULM,twelve")},
        [("assessments.csv", 2, "score", "twelve", "must be a number")],
    ),
    "row_with_too_many_fields": (
        {"patients.csv": patients(P1, P2 + ",extra,cells")},
        [("patients.csv", 3, "", "13", "row has 13 fields, the header has 11")],
    ),
    "duplicate_header_column": (
        {"patients.csv": patients(P1).replace("site", "sex", 1)},
        [("patients.csv", 1, "sex", "", "column appears more than once in the header")],
    ),
    "utf16_file": (
        {"patients.csv": patients(P1).encode("utf-16")},
        [("patients.csv", 0, "", "", "file is UTF-16 text; save it as UTF-8")],
    ),
    "binary_file": (
        {"patients.csv": patients(P1), "events.csv": b"PK\x03\x04\x00\x00binary"},
        [("events.csv", 1, "", "", "file contains NUL bytes (not a text file)")],
    ),
    "onset_before_birth_diagnosis_before_onset": (
        {"patients.csv": patients(P1.replace("2010-09-01,2011-01-01", "2009-09-01,2009-08-01"))},
        [("patients.csv", 2, "diagnosis_date", "2009-08-01", "diagnosis before birth"),
         ("patients.csv", 2, "diagnosis_date", "2009-08-01", "diagnosis before onset"),
         ("patients.csv", 2, "onset_date", "2009-09-01", "onset before birth")],
    ),
    "last_contact_after_death": (
        {"patients.csv": patients(P1.replace("2020-01-01,,", "2020-01-01,2019-01-01,"))},
        [("patients.csv", 2, "death_date", "2019-01-01", "last contact after death")],
    ),
    "event_with_blank_patient_id": (
        {"patients.csv": patients(P1), "events.csv": table("events.csv", ",niv_start,2013-01-01")},
        [("events.csv", 2, "patient_id", "", "required value is blank")],
    ),
    "semicolon_file_with_unknown_sex": (
        {"patients.csv": patients(P1.replace(",F,", ",X,")).replace(",", ";")},
        [("patients.csv", 2, "sex", "X", "must be one of: M, F, U")],
    ),
}
