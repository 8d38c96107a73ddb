"""Seeded synthetic SMA registry: natural history from birth, left truncation, treatment.

The simulator draws a birth population of people with spinal muscular atrophy (SMA) over
many decades, gives each a latent untreated life history (type, SMN2 copies, onset,
milestones, respiratory and nutritional events, death), lets disease-modifying treatment
change that course from 2017 on, and then observes the population through a registry that
opens on a calendar date, enrols living patients (true left truncation), loses some to
follow-up and closes at a data cut. The result is the canonical export of
README, "Your own export" (tables ``patients``, ``events``, ``treatments``,
``assessments``), byte-for-byte reproducible from a seed.

Command line::

    python -m smanh.synthetic.simulate --config config/simulation.yaml --out data/sample

Sources and calibration
-----------------------
Calibrated to published natural history (targets are checked in ``tests/synthetic/test_simulate.py``
on a large untruncated, untreated simulated birth population):

* **Type 1, death or permanent ventilation** (>= 16 h/day): median 13.5 months, IQR
  8.1-22.0 months -- Finkel RS et al., *Neurology* 2014;83:810-817. Log-normal per SMN2 copy
  number (time ratios 0.45 / 1 / 1.9 for 1 / 2 / 3 copies, an assumption in the direction
  Finkel reports); the common median (12.44 months for 2 copies) and sigma (0.66) were fitted
  so that the *mixture* has median 13.4 and quartiles 8.1 / 22.1 months.
* **Type 1 survival (death)**: 32 % / 18 % / 8 % alive at 2 / 4 / 10 years -- Zerres K,
  Rudnik-Schoeneborn S, *Arch Neurol* 1995;52:518-523. Reproduced (33 / 17 / 8 %) by letting
  14.5 % of the death-or-ventilation events be permanent ventilation, followed by a
  log-normal survival on ventilation (median 9.8 years, sigma 1.0; fitted, an assumption).
* **Type 2 survival**: 98 % at 10 and 77 % at 20 years -- Zerres & Rudnik-Schoeneborn 1995.
  Weibull (shape 3.725, scale 29.74 years for 3 copies; time ratio 0.8 / 1 / 1.25 for
  2 / 3 / 4 copies, an assumption) fitted to both points for the SMN2 mixture.
* **Walking in type 3**: probability of still walking 10 and 40 years after onset 70.3 % /
  22.0 % (3a, onset < 3 years) and 96.7 % / 58.7 % (3b, onset >= 3 years) -- Zerres K et al.,
  *J Neurol Sci* 1997;146:67-72. Weibull time from onset to loss of walking fitted to the two
  points: 3a shape 1.052, scale 26.95 years; 3b shape 1.994, scale 54.9 years.
* **CHOP INTEND** in untreated type 1: mean decline 1.27 points/year -- Finkel 2014.
* **HFMSE** in types 2/3: mean 12-month change -0.56 (SD 2.72) -- Mercuri E et al.,
  *Neuromuscul Disord* 2016;26:126-131. Latent slope -0.72/year, random-slope SD 0.6/year,
  measurement SD 1.85, chosen so that the *observed* 12-month changes between untreated
  assessments of the registry (attenuated by floor and ceiling) have mean -0.52 and SD 2.63.
* **SMN2 copy number by type** -- Calucho M et al., *Neuromuscul Disord* 2018;28:208-215:
  type 1: 1/2/3 copies 7/73/20 %; type 2: 2/3/4 copies 16/78/6 %; type 3: 2/3/4/5 copies
  5/49/44/2 %; type 4: mostly >= 4 (here 3/4/5/6: 5/80/12/3 %, assumption); type 0: mostly 1
  copy (85 %, assumption).
* **Treatments**: nusinersen approved in the EU 2017 (from 2017-06-01 here), onasemnogene
  abeparvovec 2019 (USA) / 2020 (EU) (from 2019-07-01 here, infants < 2 years), risdiplam
  2021 (from 2021-03-26 here).

Assumptions (not calibrated to a source; plausible values chosen for the design):
proportions of types at birth (0/1/2/3/4: 2/58/27/12/1 %, in the range of incidence studies),
subtypes, onset ranges per subtype (classic definitions), type 0 (death or ventilation
median 5 weeks), types 3 and 4 survival (near-normal: Weibull medians 72 and 80 years),
ventilation, NIV, feeding tube, scoliosis surgery, loss of sitting, loss of walking in
type 4, milestone ages, diagnosis delays, genetic testing from 1996, registry participation,
enrolment delays, loss to follow-up, treatment uptake, treatment effect (an acceleration
factor of 3-4 on the time remaining to every adverse event, saturating score gains), and
every motor and respiratory score model other than the CHOP INTEND and HFMSE slopes.

Design choices that keep the known truth testable
-------------------------------------------------
Within an SMA type group the latent event times depend on SMN2 copies and chance only; age
at onset (and hence subtype 1a/1b/1c, diagnosis, enrolment) and the latent treatment start
(calendar availability, type group, diagnosis) are drawn independently of them. Left
truncation and censoring at treatment start are therefore non-informative given the type
group, so a Kaplan-Meier estimate with delayed entry recovers :func:`true_survival`, while one
that ignores delayed entry overestimates it (early deaths never enrol). The price is that
subtypes 1a/1b/1c do not differ in survival here -- a simplification of reality.

Examples
--------
>>> tables = simulate_registry({"n_births": 300}, seed=1)
>>> sorted(tables)
['assessments', 'events', 'patients', 'treatments']
>>> round(true_median("death_or_permanent_ventilation", "1") * 12, 1)
13.4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.config.units import DAYS_PER_YEAR
from smanh.synthetic.natural_history import (
    _categorical,
    _day,
    _iso,
    _uniform_between,
    _years_to_days,
    simulate_birth_population,
)
from smanh.synthetic.parameters import (
    ADVERSE_EVENTS,
    MILESTONES,
    NEVER,
    SCALE_RANGES,
    TABLE_COLUMNS,
    SimulationParams,
    _as_params,
    load_config,
)


# --------------------------------------------------------------------------- registry
def _apply_treatment(hist: pd.DataFrame, start_age: np.ndarray, factor: np.ndarray) -> pd.DataFrame:
    """Stretch the time remaining after treatment start to every adverse event."""
    out = hist.copy()
    for col in ADVERSE_EVENTS:
        t = out[col].to_numpy().copy()
        after = np.isfinite(start_age) & np.isfinite(t) & (t > start_age)
        t[after] = start_age[after] + (t[after] - start_age[after]) * factor[after]
        out[col] = t
    out["death_or_permanent_ventilation"] = np.minimum(out["death"], out["permanent_ventilation"])
    return out


def _treatment_plan(rng, p: SimulationParams, group, birth, diag) -> dict[str, np.ndarray]:
    """Latent first treatment: by calendar availability, type group and diagnosis only."""
    n = len(group)
    treated = rng.random(n) < np.array([p.p_treated[g] for g in group])
    wait = rng.exponential(1.0, n) * np.array([p.treatment_wait_mean_years[g] for g in group])
    start = np.maximum(_day(p.nusinersen_from), diag) + _years_to_days(wait)
    age = (start - birth) / DAYS_PER_YEAR
    u_drug, u_other = rng.random(n), rng.random(n)
    infant = (age < 2.0) & np.isin(group, ["0", "1", "2"])
    drug = np.full(n, "nusinersen", dtype=object)
    risdiplam = (start >= _day(p.risdiplam_from)) & (u_drug < p.p_risdiplam)
    drug[risdiplam] = "risdiplam"
    gene = infant & (start >= _day(p.onasemnogene_from)) & (u_drug >= 1 - p.p_onasemnogene_infant)
    drug[gene] = "onasemnogene_abeparvovec"
    drug[u_other < p.p_other_treatment] = "other"
    return {"treated": treated, "start": np.where(treated, start, np.iinfo(np.int64).max // 4),
            "drug": drug}


def _diagnosis_days(rng, p: SimulationParams, group, birth, onset_age) -> np.ndarray:
    med = np.array([p.diagnosis_delay_median_years[g] for g in group])
    delay = med * np.exp(p.diagnosis_delay_sigma * rng.standard_normal(len(group)))
    diag = birth + _years_to_days(onset_age + delay)
    catch_up = _day(p.genetic_testing_from) + _years_to_days(
        rng.exponential(p.catch_up_diagnosis_mean_years, len(group)))
    return np.where(diag < _day(p.genetic_testing_from), catch_up, diag)


def _registry_frame(params: SimulationParams, seed: int) -> tuple[pd.DataFrame, np.random.Generator]:
    """Birth population with calendar dates, actual (treated) course and enrolment."""
    p = params
    rng = np.random.default_rng(seed)
    n = p.n_births
    first, cut = _day(p.birth_start), _day(p.data_cut)
    birth = first + np.floor(rng.random(n) * (cut - first)).astype(np.int64)
    natural = simulate_birth_population(p, n, rng)
    group = natural["type_group"].to_numpy()
    diag = _diagnosis_days(rng, p, group, birth, natural["onset"].to_numpy())
    plan = _treatment_plan(rng, p, group, birth, diag)
    start_age = np.where(plan["treated"], (plan["start"] - birth) / DAYS_PER_YEAR, NEVER)
    # Treatment happens only to the living (natural course before it) and before the cut.
    alive = start_age < natural["death"].to_numpy()
    start_age = np.where(alive & (plan["start"] <= cut), start_age, NEVER)
    factor = np.array([p.acceleration_factor[d] for d in plan["drug"]])
    actual = _apply_treatment(natural, start_age, factor)
    actual = _treated_milestones(rng, actual, start_age)

    participates = rng.random(n) < p.participation
    prevalent = diag < _day(p.registry_open)
    delay_years = rng.exponential(1.0, n) * np.where(
        prevalent, p.enrolment_delay_prevalent_years,
        np.array([p.enrolment_delay_incident_years[g] for g in group]))
    enrol = np.maximum(_day(p.registry_open), diag) + _years_to_days(delay_years)
    death_day = birth + _years_to_days(actual["death"].to_numpy())
    pv_day = birth + _years_to_days(actual["permanent_ventilation"].to_numpy())
    enrolled = participates & (enrol <= cut) & (enrol < death_day) & (enrol < pv_day)

    follow_end = np.minimum(cut, enrol + _years_to_days(rng.exponential(p.loss_to_follow_up_mean_years, n)))
    jitter = np.floor(rng.random(n) * (p.last_contact_jitter_days + 1)).astype(np.int64)
    # Censoring must not depend on the event: a death is known only up to the date at which
    # a survivor would have been last seen (otherwise deaths get a longer window).
    last_seen_alive = np.maximum(enrol, follow_end - jitter)
    died_observed = death_day <= last_seen_alive
    last_contact = np.where(died_observed, death_day, last_seen_alive)

    frame = actual.assign(
        birth=birth, diag=diag, enrol=enrol, last_contact=last_contact,
        death_day=np.where(died_observed, death_day, -1), enrolled=enrolled,
        treatment_start_age=start_age, first_drug=plan["drug"],
        treatment_start=np.where(np.isfinite(start_age), plan["start"], -1))
    return frame, rng


def _treated_milestones(rng, hist: pd.DataFrame, start_age: np.ndarray) -> pd.DataFrame:
    """Treated infants may gain head control and sitting (infant types only)."""
    n = len(hist)
    u_head, u_head_t, u_sit, u_sit_t = (rng.random(n) for _ in range(4))
    infant_type = hist["type_group"].isin(["0", "1"]).to_numpy() & np.isfinite(start_age)
    p_sit = np.select([start_age < 0.5, start_age < 1.0, start_age < 2.0], [0.6, 0.4, 0.2], 0.0)
    out = hist.copy()
    head = out["head_control"].to_numpy()
    new_head = infant_type & ~np.isfinite(head) & (u_head < 0.8)
    out["head_control"] = np.where(new_head, start_age + _uniform_between(u_head_t, 0.2, 0.6), head)
    sit = out["sits_independently"].to_numpy()
    new_sit = infant_type & ~np.isfinite(sit) & (u_sit < p_sit)
    out["sits_independently"] = np.where(new_sit, start_age + _uniform_between(u_sit_t, 0.5, 1.5), sit)
    return out


def _patients_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    m = len(reg)
    sub, group = reg["subtype"].to_numpy(), reg["type_group"].to_numpy()
    u_type = rng.random(m)
    recorded_type = np.where((u_type < p.p_bare_type) & np.isin(group, ["1", "2", "3"]), group, sub)
    recorded_type = np.where(u_type > 1 - p.p_unknown_type, "unknown", recorded_type)
    copies = reg["smn2_copies"].astype(str).to_numpy()
    copies = np.where(rng.random(m) < p.p_smn2_missing, "", copies)
    onset_day = reg["birth"].to_numpy() + _years_to_days(reg["onset"].to_numpy())
    onset = np.where(rng.random(m) < p.p_onset_missing, "", _iso(onset_day))
    diagnosis = np.where(rng.random(m) < p.p_diagnosis_missing, "", _iso(reg["diag"].to_numpy()))
    death = reg["death_day"].to_numpy()
    return pd.DataFrame({
        "patient_id": reg["patient_id"].to_numpy(),
        "sex": _categorical(rng, p.sex_probabilities, m),
        "birth_date": _iso(reg["birth"].to_numpy()),
        "sma_type": recorded_type,
        "smn2_copies": copies,
        "onset_date": onset,
        "diagnosis_date": diagnosis,
        "enrolment_date": _iso(reg["enrol"].to_numpy()),
        "last_contact_date": _iso(reg["last_contact"].to_numpy()),
        "death_date": np.where(death >= 0, _iso(np.maximum(death, 0)), ""),
        "site": _categorical(rng, p.site_probabilities, m),
    })


def _events_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    """Events between birth and last contact (history before enrolment included)."""
    rows = []
    birth, end = reg["birth"].to_numpy(), reg["last_contact"].to_numpy()
    for name in MILESTONES + ADVERSE_EVENTS[1:] + ("scoliosis_surgery",):
        day = birth + _years_to_days(reg[name].to_numpy())
        keep = np.isfinite(reg[name].to_numpy()) & (day <= end)
        recorded = rng.random(len(reg)) < (p.p_milestone_recorded if name in MILESTONES else 1.0)
        keep &= recorded
        rows.append(pd.DataFrame({"patient_id": reg["patient_id"].to_numpy()[keep],
                                  "event": name, "day": day[keep]}))
    events = pd.concat(rows, ignore_index=True)
    events = events.sort_values(["patient_id", "day", "event"], kind="stable")
    return pd.DataFrame({"patient_id": events["patient_id"].to_numpy(),
                         "event": events["event"].to_numpy(), "date": _iso(events["day"].to_numpy())})


def _treatments_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    """First treatment episode, discontinuation and switches, as known at last contact."""
    m = len(reg)
    u_stop, u_dur, u_switch, u_gap = rng.random(m), rng.exponential(2.0, m), rng.random(m), rng.random(m)
    start, end_obs = reg["treatment_start"].to_numpy(), reg["last_contact"].to_numpy()
    drug = reg["first_drug"].to_numpy()
    ids = reg["patient_id"].to_numpy()
    rows = []
    for i in np.flatnonzero((start >= 0) & (start <= end_obs)):
        if drug[i] == "onasemnogene_abeparvovec":  # one infusion
            rows.append((ids[i], drug[i], start[i], start[i]))
            continue
        stop = start[i] + max(30, int(u_dur[i] * DAYS_PER_YEAR))
        if u_stop[i] < p.p_discontinue and stop <= end_obs[i]:
            rows.append((ids[i], drug[i], start[i], stop))
            switch = stop + 14 + int(u_gap[i] * 76)
            alt = "risdiplam" if drug[i] != "risdiplam" else "nusinersen"
            if (u_switch[i] < p.p_switch_after_discontinuation and switch <= end_obs[i]
                    and switch >= _day(p.risdiplam_from)):
                rows.append((ids[i], alt, switch, -1))
        else:
            rows.append((ids[i], drug[i], start[i], -1))
    t = pd.DataFrame(rows, columns=["patient_id", "treatment", "start", "end"])
    t = t.sort_values(["patient_id", "start", "treatment"], kind="stable")
    end = t["end"].to_numpy()
    return pd.DataFrame({
        "patient_id": t["patient_id"].to_numpy(), "treatment": t["treatment"].to_numpy(),
        "start_date": _iso(t["start"].to_numpy()),
        "end_date": np.where(end >= 0, _iso(np.maximum(end, 0)), ""),
    })


def _visit_days(rng, p: SimulationParams, reg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Visit schedule: enrolment, then every 6-12 months (per group) with jitter."""
    m = len(reg)
    lo = np.array([p.visit_interval_years[g][0] for g in reg["type_group"]])
    hi = np.array([p.visit_interval_years[g][1] for g in reg["type_group"]])
    span = (_day(p.data_cut) - _day(p.registry_open)) / DAYS_PER_YEAR
    k = int(np.ceil(span / min(v[0] for v in p.visit_interval_years.values()))) + 1
    steps = _uniform_between(rng.random((m, k)), lo[:, None], hi[:, None])
    offsets = np.concatenate([np.zeros((m, 1)), np.cumsum(steps, axis=1)[:, :-1]], axis=1)
    days = reg["enrol"].to_numpy()[:, None] + _years_to_days(offsets)
    valid = days <= reg["last_contact"].to_numpy()[:, None]
    return days, valid


def _assessments_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    days, valid = _visit_days(rng, p, reg)
    m, k = days.shape
    ages = (days - reg["birth"].to_numpy()[:, None]) / DAYS_PER_YEAR
    group = reg["type_group"].to_numpy()
    start = reg["treatment_start_age"].to_numpy()[:, None]
    gain_mult = _uniform_between(rng.random(m), 0.3, 1.7)[:, None]
    gene = (reg["first_drug"].to_numpy() == "onasemnogene_abeparvovec")[:, None]
    walking = ((reg["walks_independently"].to_numpy()[:, None] <= ages)
               & (ages < reg["loss_of_independent_walking"].to_numpy()[:, None]))
    applicable = {
        "CHOP_INTEND": np.ones_like(ages, dtype=bool), "HINE2": ages < 2.0,
        "HFMSE": ages >= 2.0, "RULM": ages >= 2.5, "6MWT": walking & (ages >= 5.0),
        "FVC_PCT": ages >= 5.0,
    }
    ids = reg["patient_id"].to_numpy()
    rows = []
    for scale in SCALE_RANGES:  # fixed order: determinism of the random stream
        z_int, z_slope, noise, done = (rng.standard_normal(m), rng.standard_normal(m),
                                       rng.standard_normal((m, k)), rng.random((m, k)))
        models = p.natural_history.scales[scale]
        for g, sm in models.items():
            in_g = (group == g)[:, None]
            intercept = sm.mean_at_ref + sm.sd_intercept * z_int[:, None]
            slope = sm.slope + sm.sd_slope * z_slope[:, None]
            natural = intercept + slope * (ages - sm.ref_age)
            since = np.where(np.isfinite(start), np.maximum(ages - start, 0.0), 0.0)
            gain = sm.treated_gain * gain_mult * np.where(gene, 1.4, 1.0)
            # After treatment: the decline stops and a saturating gain adds up.
            treated = (natural - slope * since
                       + gain * (1 - np.exp(-since / p.treated_gain_tau_years)))
            score = np.where(since > 0, treated, natural) + sm.noise_sd * noise
            low, high = SCALE_RANGES[scale]
            score = np.rint(np.clip(score, low, high)).astype(np.int64)
            keep = valid & in_g & applicable[scale] & (done < p.p_assessment_done)
            r, c = np.nonzero(keep)
            rows.append(pd.DataFrame({"patient_id": ids[r], "day": days[r, c],
                                      "scale": scale, "score": score[r, c]}))
    a = pd.concat(rows, ignore_index=True).sort_values(["patient_id", "day", "scale"], kind="stable")
    return pd.DataFrame({"patient_id": a["patient_id"].to_numpy(), "date": _iso(a["day"].to_numpy()),
                         "scale": a["scale"].to_numpy(), "score": a["score"].astype(str).to_numpy()})


def simulate_registry(params: SimulationParams | dict | None, seed: int) -> dict[str, pd.DataFrame]:
    """Simulate one registry export (canonical format v1, all columns as strings).

    Parameters
    ----------
    params : SimulationParams or dict or None
        Registry design and natural history; a dict is read by
        :meth:`SimulationParams.from_dict`; None = defaults.
    seed : int
        Seed of the single :class:`numpy.random.Generator` behind every draw.

    Returns
    -------
    dict of pandas.DataFrame
        Keys ``patients``, ``events``, ``treatments``, ``assessments``; blank = ``""``.
    """
    p = _as_params(params)
    frame, rng = _registry_frame(p, seed)
    reg = frame[frame["enrolled"]].copy()
    # Pseudonymous ids in order of enrolment, so the id says nothing about type or outcome.
    order = np.lexsort((reg.index.to_numpy(), reg["birth"].to_numpy(), reg["enrol"].to_numpy()))
    reg = reg.iloc[order].reset_index(drop=True)
    reg["patient_id"] = [f"P{i + 1:05d}" for i in range(len(reg))]
    tables = {
        "patients": _patients_table(rng, p, reg),
        "events": _events_table(rng, p, reg),
        "treatments": _treatments_table(rng, p, reg),
        "assessments": _assessments_table(rng, p, reg),
    }
    return {name: t.reset_index(drop=True)[list(TABLE_COLUMNS[name])] for name, t in tables.items()}


def write_registry(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the four tables as ``<out_dir>/<table>.csv`` (UTF-8, comma, ``\\n``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_COLUMNS:
        path = out / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            tables[name].to_csv(f, index=False, lineterminator="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m smanh.synthetic.simulate --config ... --out ...``."""
    return command_line(argv, "smanh.synthetic.simulate", __doc__, "simulation YAML (e.g. config/simulation.yaml)",
                        lambda path: simulate_registry(*load_config(path)))


def command_line(argv, module: str, doc: str, config_help: str, simulate) -> int:
    """``python -m <module> --config ... --out ...``: ``simulate(config path)`` gives the
    tables, written as a canonical export to ``--out``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--out", required=True, help="output folder for the four CSV tables")
    args = parser.parse_args(argv)
    tables = simulate(args.config)
    write_registry(tables, args.out)
    counts = ", ".join(f"{k}={len(v)}" for k, v in tables.items())
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
