"""What Satterthwaite degrees of freedom add to the mixed-model fits at registry scale.

Simulates natural-history assessments of 100,000 patients with 15 assessments each (1.5
million rows, SMA types 1-4) and times, with the engine's Satterthwaite terms on (the
default) and off (``satterthwaite=False``), alternating, best of ``--repeats`` runs:

* one fit of all rows (the largest stratum a job can meet), default model and knot model;
* the model part of one ``progression_scale`` job: :func:`smanh.progression.models.analyse_scale`
  with the workflow's default ``progression.stratify_by: [sma_type]`` (a fit per type,
  slopes, fixed effects, trajectories).

CPU time of the process is the measure (one BLAS thread, so CPU = work done; wall time on
a shared 2-core machine varies by tens of percent from run to run); wall time is listed too.

    .venv/bin/python benchmarks/lmm_satterthwaite_benchmark.py [--repeats 3]

Writes ``benchmarks/results/lmm_satterthwaite.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.config.scales import ScaleOptions
from smanh.progression import lmm, models
from smanh.progression.models import ProgressionOptions, analyse_scale

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "lmm_satterthwaite.json"
TYPES = {"1": (0.15, 8.0, -0.6), "2": (0.40, 20.0, -0.5), "3": (0.38, 45.0, -0.4),
         "4": (0.07, 60.0, -0.2)}  # share, mean score at age 10, slope per year


def simulate(n_patients: int = 100_000, visits: int = 15, seed: int = 7) -> pd.DataFrame:
    """Natural-history-like assessments with the columns analyse_scale reads."""
    rng = np.random.default_rng(seed)
    kinds = list(TYPES)
    kind = rng.choice(kinds, n_patients, p=[TYPES[k][0] for k in kinds])
    level = np.array([TYPES[k][1] for k in kind])
    slope = np.array([TYPES[k][2] for k in kind])
    pid = np.repeat(np.arange(n_patients), visits)
    start = rng.uniform(2.0, 30.0, n_patients)
    age = start[pid] + np.tile(np.arange(visits) * 0.6, n_patients) + rng.uniform(0, 0.3, pid.size)
    b = rng.multivariate_normal([0.0, 0.0], [[36.0, -0.3], [-0.3, 0.25]], n_patients)
    score = (level[pid] + b[pid, 0] + (slope[pid] + b[pid, 1]) * (age - 10.0)
             + rng.normal(0.0, 2.5, pid.size))
    return pd.DataFrame({
        "patient_id": pid.astype(str), "scale": "HFMSE", "date": pd.NaT, "age": age,
        "score": score, "sma_type_group": kind[pid], "smn2_group": "3", "sex": "F",
        "site": "DE", "birth_year": 2000, "birth_era": "unknown",
    })


def _timed(function) -> tuple[float, float]:
    """CPU seconds of this process (steady on a shared machine: one BLAS thread) and wall."""
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = simulate()
    y = data["score"].to_numpy()
    age = data["age"].to_numpy()
    groups = data["patient_id"].to_numpy()
    designs = {
        "score ~ age + (age | patient_id)": np.column_stack([np.ones_like(age), age]),
        "score ~ age + age_after_5 + (age | patient_id)": np.column_stack(
            [np.ones_like(age), age, np.maximum(age - 5.0, 0.0)]),
    }
    z = designs["score ~ age + (age | patient_id)"]
    original = lmm.fit_lmm_arrays
    options = ProgressionOptions(stratify_by=["sma_type"], min_patients=10,
                                 confidence_level=0.95, trajectory_step=0.25, birth_eras=None)

    def job(satterthwaite: bool) -> None:
        # analyse_scale calls the fit_lmm_arrays that smanh.progression.models imported
        models.fit_lmm_arrays = functools.partial(original, satterthwaite=satterthwaite)
        try:
            analyse_scale(data, ScaleOptions("HFMSE"), options)
        finally:
            models.fit_lmm_arrays = original

    tasks = {
        **{f"one fit of all rows: `{name}`": (
            lambda s, x=x: original(y, x, z, groups, satterthwaite=s))
            for name, x in designs.items()},
        "progression job, model part (`analyse_scale`, by SMA type)": job,
    }
    rows = []
    for name, task in tasks.items():
        times = {False: [], True: []}
        for _ in range(args.repeats):
            for satterthwaite in (False, True):
                times[satterthwaite].append(_timed(functools.partial(task, satterthwaite)))
        row = {"task": name}
        for clock, k in (("cpu", 0), ("wall", 1)):
            off = float(np.min([t[k] for t in times[False]]))
            on = float(np.min([t[k] for t in times[True]]))
            row.update({f"{clock}_without_s": off, f"{clock}_with_s": on,
                        f"{clock}_added_s": on - off, f"{clock}_ratio": on / off})
        row["runs_without"], row["runs_with"] = times[False], times[True]
        rows.append(row)
    # The added work alone, without the fit's run-to-run variation: the Satterthwaite step
    # on the fitted default model (all rows), best of the repeats.
    codes, labels = pd.factorize(groups, sort=True)
    x = designs["score ~ age + (age | patient_id)"]
    fit = original(y, x, z, groups, satterthwaite=False)
    cp = lmm._cross_products(y, x, z, codes, len(labels))
    prof = lmm._profile(fit.theta_, cp, True, True)
    step = [_timed(lambda: lmm._satterthwaite_terms(fit.theta_, cp, True, prof))
            for _ in range(args.repeats)]
    rows.append({"task": "the Satterthwaite step alone (default model, all rows)",
                 "cpu_added_s": min(t[0] for t in step), "wall_added_s": min(t[1] for t in step)})
    result = {
        "patients": int(data["patient_id"].nunique()), "assessments": len(data),
        "repeats": args.repeats, "rows": rows,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, load average "
                   f"{os.getloadavg()[0]:.2f} at the end, Python {platform.python_version()}, "
                   f"numpy {np.__version__}",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['patients']:,} patients, {result['assessments']:,} assessments; "
          f"best of {args.repeats} alternating runs; {result['machine']}\n")
    print("| task | CPU s without | CPU s with | added CPU s | ratio | wall s without | "
          "wall s with |\n|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [f"{row[k]:.2f}" if k in row else "" for k in ("cpu_without_s", "cpu_with_s")]
        cells += [f"{row['cpu_added_s']:.3f}", f"{row['cpu_ratio']:.3f}" if "cpu_ratio" in row
                  else ""]
        cells += [f"{row[k]:.2f}" if k in row else "" for k in ("wall_without_s", "wall_with_s")]
        print(f"| {row['task']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
