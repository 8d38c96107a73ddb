"""What the external-control analysis costs on the sample registry and the simulated
40-patient trial (config/config.yaml's section): the job's work (cohort, analysis with
B bootstrap replicates, figures), CPU and wall seconds, best of ``--repeats``.

    PYTHONPATH=scripts .venv/bin/python benchmarks/external_control_timing.py --repeats 3

Results in ``benchmarks/results/external_control_timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import yaml

from smanh.config.external_control import external_control_options
from smanh.config.validation import validate_config
from smanh.external_control.job import external_control, read_trial_arm
from smanh.ingest.registry import read_registry

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPOSITORY / "benchmarks" / "results" / "external_control_timing.json")
    args = parser.parse_args()
    config = yaml.safe_load((REPOSITORY / "config" / "config.yaml").read_text())
    config["registry"]["path"] = str(REPOSITORY / "data" / "sample")
    config["external_control"]["trial"]["path"] = str(REPOSITORY / "data" / "sample_trial")
    registry = read_registry(config["registry"]["path"])
    results = {}
    for replicates in (0, 1000):
        config["external_control"]["bootstrap"]["replicates"] = replicates
        options = external_control_options(validate_config(config))
        trial = read_trial_arm(options.trial_path, options.trial_data_cutoff)
        best = {"cpu_s": float("inf"), "wall_s": float("inf")}
        for _ in range(args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            external_control(registry, trial, options, min_cell_count=5)
            best = {"cpu_s": min(best["cpu_s"], time.process_time() - cpu),
                    "wall_s": min(best["wall_s"], time.perf_counter() - wall)}
        results[f"replicates_{replicates}"] = best
    results["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average_1min": os.getloadavg()[0], "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
