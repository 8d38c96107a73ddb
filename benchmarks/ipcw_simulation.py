"""Simulation study of the IPCW sensitivity analysis (issue #14 item 3): in SMA type 2,
motor decline triggers treatment, and treatment censors the natural-history follow-up.
Does the IPCW estimate of S(2 y) recover the untreated truth, and how far off is the
censored (natural-history) analysis?

    PYTHONPATH=scripts .venv/bin/python benchmarks/ipcw_simulation.py \
        --replications 200 --patients 1500 --out benchmarks/results/ipcw_simulation.json

Each replication simulates ``patients`` children with SMA type 2, enrolled event-free at
age 0.5 years and followed on 3-month intervals to age 3 (the analysis's grid):

- motor score (HFMSE-like): ``M(0.5) ~ N(30, 6)``, falling each interval by a patient's own
  rate ``r ~ Gamma(shape 2, scale 1)`` points plus ``N(0, 1)`` noise; it is assessed every
  6 months (ages 0.5, 1, 1.5, ...), so the model sees the last assessed score (last
  observation carried forward);
- SMN2 copies 2, 3 or 4 (probabilities 0.3, 0.5, 0.2); three copies fall 0.5 points per
  interval more slowly, four copies 1 point;
- event (death or permanent ventilation, say) in an interval with probability
  ``expit(-3.4 + 0.15 (25 - M))``, M the true score at the interval's start (so the rate of
  decline, not seen directly, carries prognosis);
- treatment started at the visit that opens an interval (before any event in it) with
  probability ``expit(-3.0 + 0.15 (25 - L))``, L the last assessed score: treatment depends
  on the observed history only, so the treatment model of the analysis (age, calendar
  period, type, SMN2, latest score) is correctly specified for it;
- born 2018-2020: every interval is in the same calendar period.

Truth: S(2 y) without treatment, from 400,000 patients of the same process never treated.
Analyses (the package's own): the censored analysis — Kaplan–Meier of the follow-up censored
at treatment, :func:`smanh.survival.km.kaplan_meier`; and the IPCW analysis —
:func:`smanh.survival.ipcw_tables.ipcw_tables` on the same person-intervals (defaults:
stabilised weights truncated at the 1st/99th percentiles). Bias = mean estimate - truth.
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

from smanh.survival.ipcw import IpcwOptions
from smanh.survival.ipcw_tables import ipcw_tables
from smanh.survival.km import kaplan_meier

WIDTH, ENTRY, END = 0.25, 0.5, 3.0
LANDMARK = 2.0


def simulate(n: int, rng: np.random.Generator, treat: bool = True) -> pd.DataFrame:
    """Person-interval rows (the columns of :mod:`smanh.cohort.intervals`)."""
    steps = int(round((END - ENTRY) / WIDTH))
    copies = rng.choice(["2", "3", "4+"], n, p=[0.3, 0.5, 0.2])
    slower = np.select([copies == "3", copies == "4+"], [0.5, 1.0], 0.0)
    rate = rng.gamma(2.0, 1.0, n)
    score = rng.normal(30, 6, n)
    seen = score.copy()
    birth = rng.uniform(2018, 2021, n)
    alive = np.ones(n, dtype=bool)
    event = np.zeros(n, dtype=int)
    exit_age = np.full(n, END)
    rows = []
    for k in range(steps):
        start = ENTRY + k * WIDTH
        if k % 2 == 0:
            seen = np.where(alive, np.round(score), seen)  # assessed every 6 months
        at = np.flatnonzero(alive)
        p_treat = special.expit(-3.0 + 0.15 * (25 - seen[at])) if treat else np.zeros(at.size)
        treated = rng.random(at.size) < p_treat
        p_event = special.expit(-3.4 + 0.15 * (25 - score[at]))
        dies = (rng.random(at.size) < p_event) & ~treated
        stop = np.full(at.size, start + WIDTH)
        stop[treated] = start + 0.001  # treated at the visit (the follow-up ends that day)
        stop[dies] = start + rng.uniform(0.002, WIDTH, int(dies.sum()))
        rows.append(pd.DataFrame({
            "row": at, "start": start, "stop": stop, "status": dies.astype(int), "treated": treated.astype(int),
            "age": start, "calendar_year": birth[at] + start, "score_HFMSE": seen[at]}))
        ended = at[treated | dies]
        alive[ended] = False
        event[at[dies]] = 1
        exit_age[ended] = stop[treated | dies]
        score = score - np.maximum(rate - slower, 0.0) - rng.normal(0, 1, n)
    out = pd.concat(rows, ignore_index=True).sort_values(["row", "start"], kind="stable")
    i = out["row"].to_numpy()
    out = out.assign(patient_id=[f"P{j:06d}" for j in i], sma_type_group="2", smn2_group=copies[i],
                     sex="unknown", site="unknown", birth_year=np.floor(birth[i]).astype(int),
                     entry_age=ENTRY, exit_age=exit_age[i], event=event[i], score_CHOP_INTEND=np.nan)
    return out.drop(columns="row").reset_index(drop=True)


def truth(rng: np.random.Generator, n: int = 400_000) -> float:
    untreated = simulate(n, rng, treat=False)
    patients = untreated.drop_duplicates("patient_id")
    return float(np.mean(~((patients["event"] == 1) & (patients["exit_age"] <= LANDMARK))))


def one_replication(n: int, rng: np.random.Generator, options: IpcwOptions) -> dict:
    data = simulate(n, rng)
    patients = data.drop_duplicates("patient_id")
    censored = kaplan_meier(patients["entry_age"], patients["exit_age"], patients["event"])
    tables = ipcw_tables("simulated", data, options, ["all"], [LANDMARK], [LANDMARK], min_at_risk=10)
    row = tables["km_summary_ipcw"].iloc[0]
    model = tables["ipcw_model"].set_index("term")
    return {"censored": float(censored.survival_at([LANDMARK])[0]), "ipcw": float(row["s_2y"]),
            "ipcw_lo": float(row["s_2y_lo"]), "ipcw_hi": float(row["s_2y_hi"]),
            "treated_share": float(patients["exit_age"].lt(END).mean() - patients["event"].mean()),
            "weight_p99": float(model.loc["p99", "estimate"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--patients", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--truncate", type=float, nargs=2, default=(1.0, 99.0),
                        help="percentiles at which the weights are truncated (default 1 99)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    true_value = truth(rng)
    options = IpcwOptions(truncate=tuple(args.truncate))
    runs = [one_replication(args.patients, rng, options) for _ in range(args.replications)]
    frame = pd.DataFrame(runs)
    result = {"replications": args.replications, "patients": args.patients, "seed": args.seed,
              "truncate_percentiles": list(args.truncate),
              "truth_s2y": true_value}
    for name in ("censored", "ipcw"):
        estimates = frame[name]
        result[f"{name}_mean"] = float(estimates.mean())
        result[f"{name}_bias"] = float(estimates.mean() - true_value)
        result[f"{name}_bias_mcse"] = float(estimates.std(ddof=1) / np.sqrt(len(estimates)))
        result[f"{name}_empirical_se"] = float(estimates.std(ddof=1))
    covered = (frame["ipcw_lo"] <= true_value) & (true_value <= frame["ipcw_hi"])
    result["ipcw_coverage_95"] = float(covered.mean())
    result["treated_share_mean"] = float(frame["treated_share"].mean())
    result["weight_p99_mean"] = float(frame["weight_p99"].mean())
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine"] = f"{platform.platform()}, Python {platform.python_version()}"
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
