"""Registry-scale benchmark: the whole workflow on the sample, a 10,000- and a 100,000-patient
registry, against the time of the equivalent R fits on the same data.

    .venv/bin/python benchmarks/run_scale.py                      # sample, 10k, 100k
    .venv/bin/python benchmarks/run_scale.py --scales sample 10k  # a subset
    .venv/bin/python benchmarks/run_scale.py --no-r               # skip R even if present
    .venv/bin/python benchmarks/run_scale.py --repeats 1          # one run of each side
    .venv/bin/python benchmarks/run_scale.py --readme-only        # README from results/scale.json

For each scale it

1. simulates the registry with the project's simulator (``smanh.synthetic.simulate``; the 10k and 100k
   registries differ from the sample only in ``n_births``, at about 3.5 births per enrolled
   patient, and in visit intervals 1.65 times longer, so that the 100k registry has about
   1.5 million assessments, as issue #7 sets it) into ``benchmarks/out/<scale>/registry/``
   (reused when made with the same settings; not timed);
2. runs the whole workflow on it, as a user does (``snakemake -s <repo>/Snakefile
   --directory benchmarks/out/<scale>/run --cores 2``, from an empty run directory), timing
   the run and sampling the summed resident memory of Snakemake and all its jobs every
   0.1 s (the peak is what the machine must hold); every rule writes a ``benchmark:`` file
   (``logs/benchmarks/<rule>[/<wildcards>].tsv``), from which wall time and max RSS per
   rule are taken;
3. when ``Rscript`` is present, with R ``survival`` and ``lme4``: exports the workflow's own
   analysis datasets (main and sensitivity) and the natural-history assessments it modelled
   (every scale) to CSV (not timed), and times in R, inside one R process, the fits behind
   every workflow table that R's ``survival`` and ``lme4`` produce: Kaplan-Meier with delayed
   entry (``survfit(Surv(entry, exit, event) ~ stratum, conf.type = "log-log")``, with
   medians and landmark survival) per endpoint and stratification, main and sensitivity
   analysis (``km_*``); the restricted mean survival per stratum and horizon
   (``summary(survfit, rmean = tau)``, ``rmst``); Aalen-Johansen cumulative incidence with
   the competing event (``survfit`` on a factor status, ``cuminc``); the Cox score test
   across strata (``coxph(iter.max = 0)``, ``km_tests``); the two default Cox models
   (``coxph``, Efron ties, delayed entry, with ``cox.zph``, ``cox``); and ``lmer(score ~ age +
   (age | patient_id), REML = TRUE)`` per scale and SMA type stratum (the default
   ``progression.stratify_by``, ``lmm_*``). The workflow's other work (four parametric
   distributions per stratum, which need flexsurv, not packaged for Debian; 12-month change;
   Table 1; figures; the report) has no R counterpart here.

Steps 2 and 3 alternate ``--repeats`` times (default 3) on every scale, so that both sides meet
the same machine; the medians are reported, with every run's time.

Results go to ``benchmarks/results/scale.json`` and the 'Registry scale' section of
``benchmarks/README.md`` (other sections are left alone). The 100k scale takes several
minutes and about 3 GB of disk; it is never run by the tests or CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
sys.path.insert(0, str(REPOSITORY / "scripts"))

OUT = HERE / "out"
RESULTS = HERE / "results" / "scale.json"
README = HERE / "README.md"
SAMPLE = REPOSITORY / "data" / "sample"

# n_births: about 3.5 births per enrolled patient (config/simulation.yaml: 7,000 -> ~2,000).
# visit_factor: visit intervals 1.65 times the sample's, so that the 100,000-patient registry
# has about 1.5 million assessments, as issue #7 sets it (the sample's schedule gives 2.5
# million: 25 per patient).
SCALES = {
    "sample": None,  # data/sample as committed
    "10k": {"n_births": 35_000, "seed": 10_000, "visit_factor": 1.65},
    "100k": {"n_births": 350_000, "seed": 100_000, "visit_factor": 1.65},
}
COX_MODELS = [  # the workflow's defaults (smanh.survival.endpoint.DEFAULT_COX_MODELS)
    {"name": "type1_smn2_sex", "formula": "smn2_copies + sex", "subset": {"sma_type": ["1"]}},
    {"name": "type_smn2", "formula": "sma_type + smn2_copies"},
]
LANDMARKS = [1, 2, 5, 10, 20]
MIN_STRATUM = 10
MIN_PATIENTS = 10  # progression.min_patients
R_KINDS = ("km", "rmst", "cuminc", "score", "cox", "lmm")  # as timed by R_SCRIPT
NARROW_KINDS = ("km", "score", "cox", "lmm")  # no RMST or Aalen-Johansen

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
read_surv <- function(path) read.csv(path, colClasses = c(endpoint = "character",
  sma_type = "character", smn2_copies = "character", sex = "character"))
taus <- c(2, 5, 10)  # analysis.rmst_horizons
surv <- read_surv(args[1])
sensitivity <- read_surv(args[2])
motor <- read.csv(args[3], colClasses = c(scale = "character", patient_id = "character",
                                          sma_type = "character"))
landmarks <- as.numeric(strsplit(args[4], ",")[[1]])
min_stratum <- as.integer(args[5])
min_patients <- as.integer(args[6])
kinds <- c("km", "rmst", "cuminc", "score", "cox", "lmm")
elapsed <- setNames(rep(0, length(kinds)), kinds); n_fits <- elapsed
timed <- function(kind, expr) {
  start <- proc.time()[["elapsed"]]
  value <- force(expr)
  elapsed[[kind]] <<- elapsed[[kind]] + proc.time()[["elapsed"]] - start
  n_fits[[kind]] <<- n_fits[[kind]] + 1
  invisible(value)
}
known <- function(x) x != "unknown" & x != ""
big_levels <- function(d, vars) {  # drop unknown values and levels below min_stratum
  for (v in vars) d <- d[known(d[[v]]), ]
  for (v in vars) { n <- table(d[[v]]); d <- d[d[[v]] %in% names(n)[n >= min_stratum], ] }
  d
}
km <- function(d) {  # the workflow's stratifications: all, sma_type, smn2_copies
  for (by in c("1", "sma_type", "smn2_copies"))
    timed("km", { f <- survfit(as.formula(paste("Surv(entry_age, exit_age, event) ~", by)),
                               data = d, conf.type = "log-log")
                  quantile(f, 0.5); summary(f, times = landmarks, extend = TRUE) })
}
strata_rows <- function(d) {  # all, and each SMA type / SMN2 stratum of min_stratum or more
  res <- list(d)
  for (by in c("sma_type", "smn2_copies")) for (s in sort(unique(d[[by]]))) {
    rows <- d[d[[by]] == s, ]
    if (nrow(rows) >= min_stratum) res[[length(res) + 1]] <- rows
  }
  res
}
for (ep in unique(surv$endpoint)) {
  d <- surv[surv$endpoint == ep, ]
  km(d)
  km(sensitivity[sensitivity$endpoint == ep, ])  # km_*_sensitivity.csv
  for (rows in strata_rows(d)) {  # rmst.csv: restricted mean from the KM curve
    timed("rmst", { f <- survfit(Surv(entry_age, exit_age, event) ~ 1, data = rows)
                  for (tau in taus) try(silent = TRUE, summary(f, rmean = tau)$table) })
    if (any(rows$event_type == 2)) {  # cuminc.csv: Aalen-Johansen with the competing event
      rows$state <- factor(rows$event_type, levels = 0:2)
      rows$id <- seq_len(nrow(rows))
      timed("cuminc", survfit(Surv(entry_age, exit_age, state) ~ 1, data = rows, id = id))
    }
  }
  for (by in c("sma_type", "smn2_copies")) {  # km_tests.csv: Cox score test across strata
    n <- table(d[[by]]); rows <- d[d[[by]] %in% names(n)[n >= min_stratum], ]
    rows$g <- factor(rows[[by]])
    timed("score", coxph(Surv(entry_age, exit_age, event) ~ g, data = rows, ties = "efron",
                       iter.max = 0)$score)
  }
  m1 <- big_levels(d[d$sma_type == "1", ], c("smn2_copies", "sex"))
  m2 <- big_levels(d, c("sma_type", "smn2_copies"))
  for (m in list(list(m1, "smn2_copies + sex"), list(m2, "sma_type + smn2_copies"))) {
    if (nrow(m[[1]]) == 0 || sum(m[[1]]$event) == 0) next
    # A degenerate model (a level without events) fails in cox.zph, as it is "not
    # fitted" in the workflow's table: timed all the same.
    timed("cox", try(silent = TRUE, suppressWarnings({
      fit <- coxph(as.formula(paste("Surv(entry_age, exit_age, event) ~", m[[2]])),
                   data = m[[1]], ties = "efron")
      cox.zph(fit) })))
  }
}
# The workflow's mixed models: per scale and SMA type stratum with at least min_patients
# patients (progression.stratify_by: [sma_type]), on its own natural-history rows.
for (sc in unique(motor$scale)) {
  d_scale <- motor[motor$scale == sc, ]
  for (s in sort(unique(d_scale$sma_type))) {
    d <- d_scale[d_scale$sma_type == s, ]
    if (length(unique(d$patient_id)) < min_patients) next
    # As the workflow, also a stratum with fewer assessments than random effects.
    timed("lmm", suppressMessages(suppressWarnings(
      lmer(score ~ age + (age | patient_id), data = d, REML = TRUE,
           control = lmerControl(check.nobs.vs.nRE = "ignore")))))
  }
}
cat(sprintf("RESULT %s %.3f %d\n", names(elapsed), elapsed, n_fits), sep = "")
cat("VERSIONS", R.version$major, R.version$minor, as.character(packageVersion("survival")),
    as.character(packageVersion("lme4")), "\n")
"""


# ---------------------------------------------------------------------- the registries
def registry_folder(scale: str) -> Path:
    if SCALES[scale] is None:
        return SAMPLE
    folder = OUT / scale / "registry"
    settings = json.dumps(SCALES[scale], sort_keys=True)
    made_with = folder / "benchmark_settings.json"  # a registry of other settings is remade
    if not (folder / "assessments.csv").exists() or not made_with.exists() or made_with.read_text() != settings:
        from smanh.synthetic.simulate import load_config, simulate_registry, write_registry

        params, _ = load_config(REPOSITORY / "config" / "simulation.yaml")
        factor = SCALES[scale]["visit_factor"]
        values = {
            "n_births": SCALES[scale]["n_births"],
            "visit_interval_years": {
                group: (low * factor, high * factor)
                for group, (low, high) in params.visit_interval_years.items()
            },
        }
        start = time.perf_counter()
        tables = simulate_registry(_with(params, values), seed=SCALES[scale]["seed"])
        write_registry(tables, folder)
        made_with.write_text(settings)
        print(f"[{scale}] simulated in {time.perf_counter() - start:.0f} s -> {folder}", flush=True)
    return folder


def _with(params, values):
    import dataclasses

    return dataclasses.replace(params, **values)


def registry_size(folder: Path) -> dict:
    def rows(name):
        with open(folder / f"{name}.csv", "rb") as f:
            return sum(1 for _ in f) - 1

    return {t: rows(t) for t in ("patients", "events", "treatments", "assessments")}


# ---------------------------------------------------------------------- memory sampling
def _tree_rss_kb(root: int) -> int:
    """Summed VmRSS (kB) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                text = f.read()
        except OSError:
            continue
        pid = int(entry.name)
        ppid = int(re.search(r"^PPid:\s+(\d+)", text, re.M).group(1))
        m = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
        rss[pid] = int(m.group(1)) if m else 0
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class PeakMemory(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            self.stopped.wait(self.interval)


# ---------------------------------------------------------------------- the workflow
def run_workflow(scale: str, registry: Path, cores: int) -> dict:
    run_dir = OUT / scale / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "my.yaml").write_text(f"registry:\n  format: canonical\n  path: {registry}\n")
    command = [sys.executable, "-m", "snakemake", "-s", str(REPOSITORY / "Snakefile"), "--directory",
               str(run_dir), "--cores", str(cores), "--configfile", str(run_dir / "my.yaml"), "--quiet"]
    # Python's default bytecode cache, as on a user's machine: with PYTHONDONTWRITEBYTECODE
    # (set in some CI and sandbox shells) every job compiled the smanh package again.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    with open(run_dir / "snakemake.stderr", "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=run_dir, env=env)
        sampler = PeakMemory(process.pid)
        sampler.start()
        returncode = process.wait()
        sampler.stopped.set()
        sampler.join()
    wall = time.perf_counter() - start
    if returncode != 0:
        sys.exit(f"[{scale}] the workflow failed; see {run_dir / 'snakemake.stderr'}")
    rules = per_rule(run_dir / "logs" / "benchmarks")
    print(f"[{scale}] workflow {wall:.1f} s, peak {sampler.peak_kb / 1024:.0f} MB", flush=True)
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(sampler.peak_kb / 1024, 1), "rules": rules,
            "tables": sorted(p.name for p in (run_dir / "results" / "tables").glob("*.csv"))}


def per_rule(folder: Path) -> dict:
    """Jobs, summed and longest wall time, and largest max RSS of each rule's benchmark files."""
    out = {}
    for path in sorted(folder.rglob("*.tsv")):
        rule = path.relative_to(folder).parts[0].removesuffix(".tsv")
        row = pd.read_csv(path, sep="\t").iloc[-1]
        entry = out.setdefault(rule, {"jobs": 0, "wall_s": 0.0, "max_job_s": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["wall_s"] = round(entry["wall_s"] + float(row["s"]), 2)
        entry["max_job_s"] = round(max(entry["max_job_s"], float(row["s"])), 2)
        rss = pd.to_numeric(row["max_rss"], errors="coerce")
        entry["max_rss_mb"] = round(max(entry["max_rss_mb"], 0.0 if pd.isna(rss) else float(rss)), 1)
    return out


# ---------------------------------------------------------------------- R
def r_inputs(scale: str) -> tuple[list[Path], dict]:
    """The workflow's own analysis datasets (main and sensitivity) and natural-history
    assessments of every scale, as CSV: R fits exactly the rows the workflow fitted."""
    run = OUT / scale / "run" / "results"
    folder = OUT / scale / "r"
    folder.mkdir(parents=True, exist_ok=True)

    def survival_csv(name: str) -> Path:
        dataset = pd.read_parquet(run / "analysis" / f"{name}.parquet")
        analysed = dataset[(dataset["excluded_reason"].fillna("") == "")
                           & (dataset["exit_age"] > dataset["entry_age"])]
        path = folder / f"{name}.csv"
        pd.DataFrame({
            "endpoint": analysed["endpoint"], "entry_age": analysed["entry_age"],
            "exit_age": analysed["exit_age"], "event": analysed["event"].astype(int),
            "event_type": analysed["event_type"].fillna(0).astype(int),
            "sma_type": analysed["sma_type_group"].astype(str),
            "smn2_copies": analysed["smn2_group"].astype(str),
            "sex": analysed["sex"].fillna("").astype(str),
        }).to_csv(path, index=False, float_format="%.17g")
        sizes[f"{name}_rows"] = len(analysed)
        return path

    sizes: dict = {}
    paths = [survival_csv("analysis_dataset"), survival_csv("analysis_dataset_sensitivity")]
    motor = pd.concat([
        pd.read_parquet(path, columns=["scale", "patient_id", "age", "score", "sma_type_group"])
        for path in sorted((run / "progression").glob("*/assessments.parquet"))
    ]).rename(columns={"sma_type_group": "sma_type"})
    paths.append(folder / "natural_history_assessments.csv")
    motor.to_csv(paths[-1], index=False, float_format="%.17g")
    sizes["natural_history_assessments"] = len(motor)
    return paths, sizes


def run_r(scale: str, paths: list[Path], sizes: dict) -> dict | None:
    script = OUT / scale / "r" / "fits.R"
    script.write_text(R_SCRIPT)
    result = subprocess.run(["Rscript", str(script), *map(str, paths),
                             ",".join(map(str, LANDMARKS)), str(MIN_STRATUM), str(MIN_PATIENTS)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"[{scale}] R failed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return None
    fits = {}
    for kind, seconds, n in re.findall(r"^RESULT (\w+) ([\d.]+) (\d+)$", result.stdout, re.M):
        fits[kind] = {"s": float(seconds), "fits": int(n)}
    versions = re.search(r"^VERSIONS (\S+) (\S+) (\S+) (\S+)", result.stdout, re.M)
    total = round(sum(v["s"] for v in fits.values()), 2)
    # the narrowest reading of the "R's fits": Kaplan-Meier, Cox (with score tests), lmer
    narrow = round(sum(fits.get(k, {}).get("s", 0.0) for k in NARROW_KINDS), 2)
    print(f"[{scale}] R fits {total:.1f} s {fits}", flush=True)
    return {"fits": fits, "total_s": total, "narrow_s": narrow, "inputs": sizes,
            "versions": {"R": f"{versions[1]}.{versions[2]}", "survival": versions[3], "lme4": versions[4]}}


# ---------------------------------------------------------------------- repeats
def time_scale(scale: str, registry: Path, args, with_r: bool) -> dict:
    """The workflow and R, run alternately ``args.repeats`` times, so that both meet the same
    machine (on a shared machine either side varies by 10% or more from run to run). Kept:
    the run with the median wall time of each side (its per-rule and per-fit times), every
    run's time, and the workflow's largest peak memory."""
    workflows, fits, r_files = [], [], None
    for _ in range(max(1, args.repeats)):
        workflows.append(run_workflow(scale, registry, args.cores))
        if with_r:
            r_files = r_files or r_inputs(scale)  # the rows the (identical) runs analysed
            fits.append(run_r(scale, *r_files))
    workflow = _median_run(workflows, "wall_s")
    workflow["peak_rss_mb"] = max(run["peak_rss_mb"] for run in workflows)
    entry = {"workflow": workflow}
    if fits and all(fits):
        entry["r"] = _median_run(fits, "total_s")
        narrow = _median_run(fits, "narrow_s")  # its own median
        entry["r"]["narrow_s"], entry["r"]["narrow_s_runs"] = narrow["narrow_s"], narrow["narrow_s_runs"]
    return entry


def _median_run(runs: list[dict], key: str) -> dict:
    ordered = sorted(runs, key=lambda run: run[key])
    median = dict(ordered[(len(ordered) - 1) // 2])  # the lower middle of an even count
    median[f"{key}_runs"] = [run[key] for run in runs]
    return median


# ---------------------------------------------------------------------- report
def machine() -> dict:
    cpu = ""
    try:
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
    import snakemake

    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2),
            "memory_gib": round(mem_kb / 1024**2, 1), "python": platform.python_version(),
            "snakemake": snakemake.__version__, "pandas": pd.__version__}


def readme_section(results: dict) -> str:
    m = results["machine"]
    lines = [
        "## Registry scale",
        "",
        "The whole workflow (`snakemake --cores 2`, default config: every built-in endpoint, "
        "stratification and figure) on the sample registry and on simulated 10,000- and "
        "100,000-patient registries (the sample's simulation settings with more births and "
        "visits 1.65 times further apart: about 15 assessments per patient, 1.5 million at "
        "100,000 patients, as issue #7 sets it), against R fitting the same models on the "
        "same data. "
        f"Made by `.venv/bin/python benchmarks/run_scale.py` (all numbers from one run, {results['date']}, "
        f"in which each scale ran the workflow and R {results.get('repeats', 1)} time(s), alternating; "
        "times are the medians, every run's time is listed below the table; "
        "raw numbers in `results/scale.json`).",
        "",
        f"Machine: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"{m['platform']}; load average at start {m.get('load_average_1min_at_start', '?')} "
        "(anything above 0 means other processes shared the 2 cores); "
        f"Python {m['python']}, Snakemake {m['snakemake']}, pandas {m['pandas']}"
        + (f"; R {results['r_versions']['R']}, survival {results['r_versions']['survival']}, "
           f"lme4 {results['r_versions']['lme4']}" if results.get("r_versions") else "") + ".",
        "",
        "| registry | patients | assessments | workflow wall s | workflow peak MB | R fits s | R: KM / RMST / AJ / score / Cox / lmer s | workflow ÷ R | workflow ÷ R's Kaplan-Meier, Cox and lmer only |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale, r in results["scales"].items():
        size, wf, rr = r["registry"], r["workflow"], r.get("r")
        if rr:
            seconds = {k: rr["fits"].get(k, {}).get("s", 0.0) for k in R_KINDS}
            parts = " / ".join(f"{seconds[k]:.1f}" for k in R_KINDS)
            narrow = rr.get("narrow_s", sum(seconds[k] for k in NARROW_KINDS))
            cells = (f"{rr['total_s']:.1f}", parts, f"{wf['wall_s'] / rr['total_s']:.2f}",
                     f"{wf['wall_s'] / narrow:.2f}" if narrow else "–")
        else:
            cells = ("–", "–", "–", "–")
        lines.append(f"| {scale} | {size['patients']:,} | {size['assessments']:,} | {wf['wall_s']:.1f} | "
                     f"{wf['peak_rss_mb']:.0f} | " + " | ".join(cells) + " |")
    lines.append("")
    for scale, r in results["scales"].items():
        runs = ", ".join(f"{t:.1f}" for t in r["workflow"].get("wall_s_runs", [r["workflow"]["wall_s"]]))
        line = f"- {scale}: workflow {runs} s"
        if r.get("r"):
            line += "; R " + ", ".join(f"{t:.1f}" for t in r["r"].get("total_s_runs", [r["r"]["total_s"]])) + " s"
            if r["r"].get("narrow_s_runs"):
                line += " (Kaplan-Meier, Cox and lmer only: " + ", ".join(f"{t:.1f}" for t in r["r"]["narrow_s_runs"]) + " s)"
        lines.append(line)
    lines += [
        "",
        "Workflow wall time: from starting Snakemake to its exit, every job included (Python "
        "start-up, reading the export, validation, every table, figure and the report). Peak: the "
        "largest summed resident memory of Snakemake and all its running jobs (sampled every 0.1 s). "
        "R: only the model fits, inside one R process (reading the CSVs excluded), on the rows the "
        "workflow analysed, for every workflow table that R's `survival` and `lme4` produce. "
        "KM: Kaplan-Meier with delayed entry (`survfit`, log-log bands, medians and landmarks) per "
        "endpoint and stratification (all, SMA type, SMN2 copies), main and sensitivity analysis "
        "(`km_*`). RMST: the restricted mean per stratum and horizon (`summary(survfit, rmean = "
        "tau)`, `rmst`). AJ: Aalen-Johansen cumulative incidence with the competing event "
        "(`survfit` on a factor status, `cuminc`). score: the Cox score test across strata "
        "(`coxph(iter.max = 0)`, `km_tests`). Cox: the two default Cox models per endpoint (Efron "
        "ties, with `cox.zph`, `cox`). lmer: `lmer(score ~ age + (age | patient_id), REML = TRUE)` "
        "per motor scale and SMA type stratum (`lmm_*`). The last column compares with the "
        "narrowest reading of 'the equivalent R fits' (Kaplan-Meier, Cox models and score tests, "
        "lmer; no RMST or Aalen-Johansen, although the workflow computes both). The workflow "
        "also does what R does not here: four parametric distributions per stratum (flexsurv is "
        "not packaged for Debian), 12-month change, Table 1, every figure and the report. A ratio "
        "below 1 means the whole workflow finished faster than R's fits alone.",
        "",
    ]
    for note in ("r_note", "load_note"):
        if results.get(note):
            lines += [results[note], ""]
    for scale, r in results["scales"].items():
        lines += [f"### Per rule: {scale}", "",
                  "| rule | jobs | wall s (sum) | longest job s | max RSS MB |", "|---|---:|---:|---:|---:|"]
        for rule, e in sorted(r["workflow"]["rules"].items(), key=lambda kv: -kv[1]["wall_s"]):
            lines.append(f"| {rule} | {e['jobs']} | {e['wall_s']:.1f} | {e['max_job_s']:.1f} | {e['max_rss_mb']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def write_readme_section(section: str) -> None:
    """Replace (or append) the 'Registry scale' section, leaving other sections alone."""
    text = README.read_text() if README.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## Registry scale\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", choices=list(SCALES), default=list(SCALES))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--no-r", action="store_true", help="do not run the R fits")
    parser.add_argument("--repeats", type=int, default=3,
                        help="workflow and R runs per scale, alternating; medians are reported")
    parser.add_argument("--readme-only", action="store_true", help="rewrite the README section from results/scale.json")
    parser.add_argument("--r-only", action="store_true",
                        help="only (re)run the R fits on the workflow runs in benchmarks/out/, into results/scale.json")
    args = parser.parse_args()

    if args.readme_only:
        write_readme_section(readme_section(json.loads(RESULTS.read_text())))
        return
    if args.r_only:
        results = json.loads(RESULTS.read_text())
        for scale in args.scales:
            if scale in results["scales"]:
                results["scales"][scale]["r"] = run_r(scale, *r_inputs(scale))
                if results["scales"][scale]["r"]:
                    results["r_versions"] = results["scales"][scale]["r"]["versions"]
        results["r_note"] = (f"R fits timed in a separate run ({time.strftime('%Y-%m-%d')}, load average "
                             f"{os.getloadavg()[0]:.1f}) on the same data as the workflow runs.")
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        write_readme_section(readme_section(results))
        return
    with_r = not args.no_r and shutil.which("Rscript") is not None
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "scales": {}}
    results["repeats"] = args.repeats
    for scale in args.scales:
        registry = registry_folder(scale)
        entry = {"registry": registry_size(registry), **time_scale(scale, registry, args, with_r)}
        if entry.get("r"):
            results["r_versions"] = entry["r"]["versions"]
        results["scales"][scale] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_readme_section(readme_section(results))
    print(f"wrote {RESULTS} and the 'Registry scale' section of {README}")


if __name__ == "__main__":
    main()
