"""OMOP input benchmark: reading the 100,000-patient registry from an OMOP CDM DuckDB file
against reading the canonical CSV export of the same registry.

    .venv/bin/python benchmarks/omop_read.py                # 100k, 3 alternating repeats
    .venv/bin/python benchmarks/omop_read.py --scale 10k --repeats 5
    .venv/bin/python benchmarks/omop_read.py --readme-only  # README section from results/omop_read.json

For the scale it

1. takes the registry simulated by ``benchmarks/run_scale.py`` (``benchmarks/out/<scale>/
   registry/``, made when missing: about 100,000 patients and 1.5 million assessments at
   100k) and writes it into an OMOP CDM DuckDB file with the sample's generator
   (``smanh.synthetic.omop_sample``, ``benchmarks/out/<scale>/omop.duckdb``; not timed);
2. checks once that both routes give the same canonical tables;
3. times, each in a fresh Python process (imports not timed, as in a workflow job), what
   the ``ingest`` job does with the export: ``read_registry`` from the CSV folder, and
   ``read_registry(format="omop")`` from the DuckDB file — the whole read, typing and
   validation (the part both routes share) included — and, apart, the reading step alone
   (``read_canonical_tables`` against ``read_omop``: text tables, before validation).
   The two routes alternate ``--repeats`` times; medians are reported.

Results go to ``benchmarks/results/omop_read.json`` and the 'OMOP input' section of
``benchmarks/README.md``. Never run by the tests or CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
sys.path.insert(0, str(REPOSITORY / "scripts"))
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "omop_read.json"
README = HERE / "README.md"
SECTION = "## OMOP input"

TIMED = r"""
import json, sys, time
sys.path.insert(0, {scripts!r})
from smanh.ingest.registry import read_canonical_tables, read_registry
from smanh.ingest.omop import read_omop
from pathlib import Path
route, what, location = sys.argv[1:4]
start, cpu = time.perf_counter(), time.process_time()
if route == "csv":
    result = read_registry(location) if what == "registry" else read_canonical_tables(Path(location))
else:
    result = (read_registry(format="omop", omop={{"duckdb": location}}) if what == "registry"
              else read_omop(duckdb=location))
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
import resource
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def omop_database(scale: str) -> tuple[Path, Path]:
    from run_scale import OUT, registry_folder

    registry = registry_folder(scale)
    database = OUT / scale / "omop.duckdb"
    stamp = database.with_suffix(".source")
    source = f"{(registry / 'patients.csv').stat().st_mtime_ns} {(REPOSITORY / 'config' / 'omop_mapping.yaml').read_bytes()!r}"
    if not database.exists() or not stamp.exists() or stamp.read_text() != source:
        from smanh.synthetic import omop_sample

        start = time.perf_counter()
        omop_sample.write_duckdb(omop_sample.convert(omop_sample.read_canonical(registry),
                                                     omop_sample.load_mapping()), database)
        stamp.write_text(source)
        print(f"[{scale}] OMOP database written in {time.perf_counter() - start:.0f} s -> {database}", flush=True)
    return registry, database


def same_tables(registry: Path, database: Path) -> dict:
    import pandas as pd

    from smanh.ingest.registry import read_registry

    a, b = read_registry(registry), read_registry(format="omop", omop={"duckdb": database})
    sizes = {}
    for name in ("patients", "events", "treatments", "assessments"):
        fa, fb = (x.table(name).drop(columns="line") for x in (a, b))
        fa, fb = (f.sort_values(list(f.columns)).reset_index(drop=True) for f in (fa, fb))
        pd.testing.assert_frame_equal(fa, fb, check_dtype=False)
        sizes[name] = len(fa)
    return sizes


def timed(route: str, what: str, location: Path) -> dict:
    code = TIMED.format(scripts=str(REPOSITORY / "scripts"))
    result = subprocess.run([sys.executable, "-c", code, route, what, str(location)], capture_output=True,
                            text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(scale: str, repeats: int) -> dict:
    registry, database = omop_database(scale)
    sizes = same_tables(registry, database)
    csv_bytes = sum((registry / f"{t}.csv").stat().st_size for t in sizes)
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for what in ("registry", "raw"):
            for route, location in (("csv", registry), ("omop", database)):
                runs.setdefault(f"{route}_{what}", []).append(timed(route, what, location))
                print(f"[{scale}] {route} {what}: {runs[f'{route}_{what}'][-1]['seconds']:.2f} s", flush=True)
    medians = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    medians.update({f"{k}_cpu": statistics.median(r["cpu_seconds"] for r in v) for k, v in runs.items()})
    return {
        "scale": scale, "rows": sizes, "csv_mb": round(csv_bytes / 2**20, 1),
        "duckdb_mb": round(database.stat().st_size / 2**20, 1), "repeats": repeats, "runs": runs,
        "median_seconds": medians, "date": time.strftime("%Y-%m-%d"), "machine": machine(),
    }


def machine() -> dict:
    import duckdb
    import pandas

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "pandas": pandas.__version__,
            "load_average": os.getloadavg()[0]}


def readme_section(results: dict) -> str:
    r = results
    m = r["median_seconds"]
    rows = r["rows"]
    line = lambda k: ", ".join(f"{x['seconds']:.2f}" for x in r["runs"][k])  # noqa: E731
    return f"""{SECTION}

Reading the {r['scale']} registry ({rows['patients']:,} patients, {rows['assessments']:,} assessments, {rows['events']:,} events, {rows['treatments']:,} treatments) from an OMOP CDM DuckDB file ({r['duckdb_mb']} MB, written from the registry by `smanh.synthetic.omop_sample`) against reading its canonical CSV export ({r['csv_mb']} MB), as the `ingest` job does. Made by `.venv/bin/python benchmarks/omop_read.py` ({r['date']}; each measurement a fresh Python process, imports not timed; the two routes alternated {r['repeats']} times, medians; raw numbers in `results/omop_read.json`). Both routes give the same canonical tables (checked before timing).

| what is timed | canonical CSV s | OMOP DuckDB s | OMOP ÷ CSV | CSV CPU s | OMOP CPU s | OMOP ÷ CSV, CPU |
|---|---:|---:|---:|---:|---:|---:|
| `read_registry`: read, type and validate (the `ingest` job's reading) | {m['csv_registry']:.2f} | {m['omop_registry']:.2f} | {m['omop_registry'] / m['csv_registry']:.2f} | {m['csv_registry_cpu']:.2f} | {m['omop_registry_cpu']:.2f} | {m['omop_registry_cpu'] / m['csv_registry_cpu']:.2f} |
| reading alone: text tables before validation (`read_canonical_tables` / `read_omop`) | {m['csv_raw']:.2f} | {m['omop_raw']:.2f} | {m['omop_raw'] / m['csv_raw']:.2f} | {m['csv_raw_cpu']:.2f} | {m['omop_raw_cpu']:.2f} | {m['omop_raw_cpu'] / m['csv_raw_cpu']:.2f} |

Wall time is what the `ingest` job takes; CPU time (all threads of the process) is what it costs the machine, and is steadier on a shared one. Both run as the workflow runs them: `OMP_NUM_THREADS=1`, so DuckDB uses one thread (as every job; pyarrow's CSV reader keeps its own thread pool).

- `read_registry`: CSV {line('csv_registry')} s; OMOP {line('omop_registry')} s
- reading alone: CSV {line('csv_raw')} s; OMOP {line('omop_raw')} s

Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs (1-min load average {r['machine']['load_average']:.1f} at the end: other jobs shared the machine), Python {r['machine']['python']}, DuckDB {r['machine']['duckdb']}, pandas {r['machine']['pandas']}. The queries run in DuckDB (the cohort made once, joins to it and to the concept maps) and return only the cohort's rows, the large tables as numbers (patient positions, days, value codes, scores) that become text once per distinct value; the typing and validation after them are the canonical route's own code, so the two routes differ only in the reading step (the registry rows' spread between runs on a shared machine is wider than the difference of the medians).
"""


def write_readme(section: str) -> None:
    text = README.read_text()
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section.rstrip("\n") + ("\n" + text[end:] if end >= 0 else "\n")
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="100k", choices=["10k", "100k"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readme-only", action="store_true")
    args = parser.parse_args()
    if not args.readme_only:
        results = run(args.scale, args.repeats)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_readme(readme_section(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
