"""Simulation study of the external-control analysis (issue #17): coverage of the 95%
bootstrap interval of the hazard ratio and rejection under no effect.

    PYTHONPATH=scripts .venv/bin/python benchmarks/external_control_simulation.py \
        --replications 200 --replicates 1000 --out benchmarks/results/external_control_simulation.json

Each replication simulates a single-arm trial and a registry (one cohort of infants with
SMA type 1 and two SMN2 copies, alive and event-free at entry), confounded by design:

- covariates at entry: age at onset ``o ~ U(0, 0.5)`` years, sex (M with probability
  0.5), diagnosis-and-enrolment delay ``d ~ Exp(mean 0.12)``; entry (time zero) at
  ``o + d <= 0.5`` years, the patient alive and free of death or ventilation then;
- arm: trial with probability ``expit(-2.8 - 6 (o - 0.25) + 0.5 male - 4 (d - 0.12))``
  (earlier onset, quicker to dosing: about 40 of 320 candidates), so the propensity model
  of the analysis (age at entry, sex, age at onset; logistic) is the true one;
- natural history: log-normal age at death or permanent ventilation, ``log T = log(1.037)
  + 2 (o - 0.15) - 0.15 male + 0.66 Z`` (the registry simulator's type 1, two copies,
  made to depend on onset: earlier onset, worse prognosis — the confounding);
- trial arm: from entry on, the conditional hazard times ``hazard_ratio`` (proportional
  hazards given the covariates); followed 2-4 years; registry arm followed 0.5-4 years and
  censored at a treatment start (exponential, mean 1 year after entry, unrelated to
  prognosis).

The analysis is the package's own (:func:`smanh.external_control.analysis.analyse_external_control`)
on the cohort, with ``replicates`` bootstrap replicates. The truth of the weighted Cox
model's hazard ratio (a marginal, ATT hazard ratio: not the conditional 0.2, Cox models
being non-collapsible) is that estimator's limit, computed once per scenario on 400,000
candidates with the true propensity score; under no effect it is 1 exactly.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from smanh.config.external_control import external_control_options
from smanh.config.validation import validate_config
from smanh.external_control.analysis import analyse_external_control
from smanh.external_control.cohort import ExternalCohort
from smanh.survival.cox import fit_cox

ENDPOINT = "death_or_permanent_ventilation"
SIGMA, MEDIAN = 0.66, 1.037


def candidates(n: int, hazard_ratio: float, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` candidates alive and event-free at entry, their arm, entry, exit and event."""
    rows, kept = [], 0
    while kept < n:
        m = 3 * n
        onset = rng.uniform(0, 0.5, m)
        male = (rng.random(m) < 0.5).astype(float)
        delay = rng.exponential(0.12, m)
        entry = onset + delay
        mu = np.log(MEDIAN) + 2.0 * (onset - 0.15) - 0.15 * male
        survival_at_entry = special.ndtr(-(np.log(np.maximum(entry, 1e-9)) - mu) / SIGMA)
        natural = np.exp(mu + SIGMA * rng.standard_normal(m))
        ok = (entry <= 0.5) & (natural > entry)
        logit = -2.8 - 6.0 * (onset - 0.25) + 0.5 * male - 4.0 * (delay - 0.12)
        trial = (rng.random(m) < special.expit(logit)).astype(int)
        # treated: S(t | x)^hr / S(e | x)^hr = u  <=>  S(t | x) = S(e | x) u^(1 / hr)
        u = rng.random(m)
        treated = np.exp(mu - SIGMA * special.ndtri(survival_at_entry * u ** (1.0 / hazard_ratio)))
        event_age = np.where(trial == 1, treated, natural)
        follow = np.where(trial == 1, rng.uniform(2, 4, m), np.minimum(rng.uniform(0.5, 4, m),
                                                                        rng.exponential(1.0, m)))
        end = entry + follow
        frame = pd.DataFrame({"arm": trial, "age_at_entry": entry, "sex": np.where(male == 1, "M", "F"),
                              "age_at_onset": onset, "exit": np.minimum(event_age, end),
                              "event": (event_age <= end).astype(int), "odds": np.exp(logit)})[ok]
        rows.append(frame)
        kept += len(frame)
    return pd.concat(rows, ignore_index=True).iloc[:n]


def cohort(frame: pd.DataFrame) -> ExternalCohort:
    frame = frame.sort_values("arm", ascending=False, kind="stable").reset_index(drop=True)  # trial first
    baseline = frame[["arm", "age_at_entry", "sex", "age_at_onset"]].assign(smn2_copies=2.0, baseline_score=np.nan)
    follow = pd.DataFrame({"entry": frame["age_at_entry"], "exit": frame["exit"], "event": frame["event"],
                           "analysed": frame["exit"] > frame["age_at_entry"]})
    return ExternalCohort(baseline, {ENDPOINT: follow}, None, pd.DataFrame(columns=["arm", "step", "reason", "n"]))


def true_hazard_ratio(hazard_ratio: float, seed: int) -> float:
    """The limit of the ATT-weighted Cox estimate: on 400,000 candidates, true weights."""
    if hazard_ratio == 1.0:
        return 1.0
    frame = candidates(400_000, hazard_ratio, np.random.default_rng(seed))
    weights = np.where(frame["arm"] == 1, 1.0, frame["odds"])
    fit = fit_cox(frame["age_at_entry"], frame["exit"], frame["event"], frame[["arm"]].astype(float),
                  weights=weights, robust=False)
    return float(np.exp(fit.coef[0]))


def options(replicates: int, seed: int):
    return external_control_options(validate_config({"registry": {"path": "x"}, "external_control": {
        "trial": {"path": "t"}, "endpoints": [ENDPOINT], "covariates": ["age_at_entry", "sex", "age_at_onset"],
        "bootstrap": {"replicates": replicates, "seed": seed}}}))


def run(replications: int, replicates: int, seed: int) -> dict:
    results = {}
    for hazard_ratio in (0.2, 1.0):
        truth = true_hazard_ratio(hazard_ratio, seed + 1)
        rng = np.random.default_rng(seed)
        rows = []
        started = time.process_time()
        for i in range(replications):
            data = cohort(candidates(320, hazard_ratio, rng))
            effects = analyse_external_control(data, options(replicates, seed + i)).tables["external_control_effects"]
            for r in effects[effects["measure"] == "hazard_ratio"].itertuples():
                rows.append({"replication": i, "method": r.method, "model": r.model, "estimate": r.estimate,
                             "boot_lo": r.boot_lo, "boot_hi": r.boot_hi, "lo": r.lo, "hi": r.hi,
                             "n_trial": int((data.arm == 1).sum())})
        table = pd.DataFrame(rows)
        summary = {}
        for method, part in table.groupby("method", sort=False):
            done = part.dropna(subset=["boot_lo", "boot_hi"])
            summary[method] = {
                "replications": len(done),
                "mean_log_hr": float(np.log(done["estimate"]).mean()),
                "bootstrap_coverage": float(((done["boot_lo"] <= truth) & (truth <= done["boot_hi"])).mean()),
                "robust_coverage": float(((done["lo"] <= truth) & (truth <= done["hi"])).mean()),
                "bootstrap_rejects_1": float(((done["boot_hi"] < 1) | (done["boot_lo"] > 1)).mean()),
                "robust_rejects_1": float(((done["hi"] < 1) | (done["lo"] > 1)).mean()),
            }
        results[f"hr_{hazard_ratio:g}"] = {"conditional_hr": hazard_ratio, "true_att_hr": truth,
                                           "mean_trial_patients": float(table["n_trial"].mean()),
                                           "cpu_seconds": time.process_time() - started, "methods": summary}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/external_control_simulation.json"))
    args = parser.parse_args()
    results = run(args.replications, args.replicates, args.seed)
    results["setup"] = {"replications": args.replications, "bootstrap_replicates": args.replicates,
                        "seed": args.seed, "machine": platform.platform(), "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
