"""What issue #16 (two time scales, centring, Satterthwaite df, ranges, change by age band,
percentile-band figures) costs the progression jobs at registry scale: every
``progression_scale`` job's work (read its scale's assessments, models, change, floor /
ceiling, figures, write tables and figures) on the 100,000-patient registry of
``run_scale.py``, with this checkout's code and with a git ref's (default ``main``),
alternating, best of ``--repeats``, one process per scale as the workflow's jobs (the
work's CPU time, and the whole process's with start-up and imports); target: at most 1.3
times the reference.

    .venv/bin/python benchmarks/progression_time_scales.py [--ref main] [--repeats 3]
        [--scale 100k]

The registry is simulated (or reused) as ``run_scale.py`` makes it; its canonical tables
are read once into ``benchmarks/out/<scale>/progression_input/`` (not timed). The reference
code is ``git archive <ref> scripts workflow/schemas`` in a temporary folder. Each side runs
in fresh processes, with one BLAS thread. Results: ``results/progression_time_scales.json``,
summarised in the section 'Progression jobs: time scales (issue #16)' of
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, sys, time, tempfile
from pathlib import Path
import pandas as pd
from smanh.config.validation import validate_config
from smanh.progression.scale import progression_scale
from smanh.jobs.files import write_tables
from smanh.figures.common import save_figures
folder = Path(sys.argv[1])
config = validate_config({"registry": {"path": "."}})
progression = config["progression"]
out = {}
with tempfile.TemporaryDirectory() as tmp:
    for name in sys.argv[2:]:
        cpu, wall = time.process_time(), time.perf_counter()
        patients = pd.read_parquet(folder / "patients.parquet")
        treatments = pd.read_parquet(folder / "treatments.parquet")
        assessments = pd.read_parquet(folder / "assessments.parquet", filters=[("scale", "==", name)])
        result = progression_scale(patients, treatments, assessments, name, progression,
                                   confidence_level=config["analysis"]["confidence_level"],
                                   birth_eras=list(config["analysis"]["birth_eras"]))
        outputs = {t: Path(tmp) / f"{name}_{t}.csv" for t in result.tables}
        for f in result.figures:
            outputs[f"{f}_png"] = Path(tmp) / f"{name}_{f}.png"
            outputs[f"{f}_svg"] = Path(tmp) / f"{name}_{f}.svg"
        write_tables(result.tables, outputs)
        save_figures(result.figures, outputs)
        out[name] = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                     "assessments": int(len(assessments))}
print(json.dumps(out))
"""


def prepare_input(scale: str) -> Path:
    """The registry's canonical patients, treatments and assessments as Parquet."""
    from run_scale import registry_folder

    folder = HERE / "out" / scale / "progression_input"
    if (folder / "assessments.parquet").exists():
        return folder
    from smanh.ingest.registry import read_registry

    export = read_registry(registry_folder(scale))
    folder.mkdir(parents=True, exist_ok=True)
    export.patients.to_parquet(folder / "patients.parquet", index=False)
    export.treatments.to_parquet(folder / "treatments.parquet", index=False)
    export.assessments.to_parquet(folder / "assessments.parquet", index=False)
    return folder


def reference_code(ref: str, into: Path) -> Path:
    archive = into / "ref.tar"
    subprocess.run(["git", "-C", str(REPOSITORY), "archive", "-o", str(archive), ref, "scripts",
                    "workflow/schemas"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "scripts"


SCALES = ["HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT"]


def run(scripts: Path, folder: Path) -> dict:
    """One process per scale, as the workflow's jobs: the work's CPU time (``cpu_s``) and
    the whole process's, start-up and imports included (``job_cpu_s``)."""
    env = {**os.environ, "PYTHONPATH": str(scripts), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out = {}
    for scale in SCALES:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder), scale], env=env,
                              check=True, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.update(json.loads(done.stdout.strip().splitlines()[-1]))
        out[scale]["job_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="main")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", default="100k")
    args = parser.parse_args()
    folder = prepare_input(args.scale)
    runs = {"reference": [], "this": []}
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"reference": reference_code(args.ref, Path(tmp)), "this": REPOSITORY / "scripts"}
        for repeat in range(args.repeats):
            for side, scripts in sides.items():
                runs[side].append(run(scripts, folder))
                total = sum(v["cpu_s"] for v in runs[side][-1].values())
                job = sum(v["job_cpu_s"] for v in runs[side][-1].values())
                print(f"[{repeat + 1}/{args.repeats}] {side}: work {total:.1f} CPU s, jobs "
                      f"{job:.1f} CPU s", flush=True)
    scales = list(runs["this"][0])
    best = {side: {s: min(r[s]["cpu_s"] for r in rs) for s in scales} for side, rs in runs.items()}
    best_job = {side: {s: min(r[s]["job_cpu_s"] for r in rs) for s in scales} for side, rs in runs.items()}
    best_wall = {side: {s: min(r[s]["wall_s"] for r in rs) for s in scales} for side, rs in runs.items()}
    result = {
        "ref": args.ref,
        "commit": subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
        "scale": args.scale,
        "assessments": {s: runs["this"][0][s]["assessments"] for s in scales},
        "best_cpu_s": best, "best_wall_s": best_wall,
        "ratio_per_job": {s: best["this"][s] / best["reference"][s] for s in scales},
        "ratio_total": sum(best["this"].values()) / sum(best["reference"].values()),
        "best_job_cpu_s": best_job,
        "ratio_job_per_job": {s: best_job["this"][s] / best_job["reference"][s] for s in scales},
        "ratio_job_total": sum(best_job["this"].values()) / sum(best_job["reference"].values()),
        "runs": runs,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, load average "
                   f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}",
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "progression_time_scales.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("ratio_per_job", "ratio_total", "ratio_job_per_job",
                                            "ratio_job_total")}, indent=2))


if __name__ == "__main__":
    main()
