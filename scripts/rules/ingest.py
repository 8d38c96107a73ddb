"""Rule ingest: read and validate the registry export, write typed Parquet tables,
the validation exclusions and the data-quality summary."""

import gc
import sys

gc.disable()  # while importing: no garbage, only collections (run_rule turns it back on)
sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from smanh.data_quality import data_quality
from smanh.registry import read_registry
from smanh.rule_io import run_rule, write_csv, write_json, write_parquet
from smanh.validation import RegistryValidationError, problems_frame


def main():
    registry = snakemake.params.registry
    problems_csv = Path(snakemake.params.problems)
    problems_csv.unlink(missing_ok=True)  # never a stale list from an earlier run
    if registry["format"] == "redcap":
        source = dict(snakemake.params.redcap)
        location = source["export"]
        kwargs = {"format": "redcap", "redcap": source}
    elif registry["format"] == "omop":
        source = {**snakemake.params.omop, "needs": dict(snakemake.params.omop_needs)}
        location = source.get("duckdb") or "postgres"  # replaced by the server's address below
        kwargs = {"format": "omop", "omop": source}
    else:
        location = str(Path(registry["path"]).expanduser())
        kwargs = {"path": location}
    try:
        export = read_registry(on_invalid=registry["on_invalid"], **kwargs)
    except RegistryValidationError as err:
        write_csv(problems_frame(err.problems), problems_csv)
        raise RegistryValidationError(err.problems, written_to=str(problems_csv)) from None
    location = next((s.name for s in export.sources if s.table == "omop_database"), location)
    if export.problems:
        write_csv(problems_frame(export.problems), problems_csv)
        print(
            f"{len(export.problems)} problem(s) in the export; {len(export.excluded)} patient(s) "
            f"excluded (on_invalid: exclude), see {problems_csv}",
            file=sys.stderr,
        )
    for table in ("patients", "events", "treatments"):
        write_parquet(export.table(table), snakemake.output[table])
    # grouped by scale, a row group each: each progression job reads only its own scale
    write_parquet(export.table("assessments"), snakemake.output.assessments, row_groups_by="scale")
    exclusions = export.excluded.groupby("reason", sort=True).size().rename("n").reset_index()
    write_csv(
        pd.concat([pd.DataFrame({"reason": ["patients in export"], "n": [export.n_in_export]}), exclusions]),
        snakemake.output.exclusions,
    )
    write_csv(data_quality(export), snakemake.output.data_quality)
    write_json(
        {
            "format": registry["format"],
            "path": location,
            "on_invalid": registry["on_invalid"],
            "files": [asdict(s) for s in export.sources],
            "imputed_dates": [
                {"table": t, "column": c, "n": n} for (t, c), n in export.imputed_dates.items()
            ],
            "patients_in_export": export.n_in_export,
            "patients_excluded": len(export.excluded),
            "orphan_rows_dropped": export.dropped_rows,
        },
        snakemake.output.sources,
    )


run_rule(main, snakemake.log[0])
