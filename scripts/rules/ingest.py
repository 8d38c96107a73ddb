"""Rule ingest: read and validate the registry export, write typed Parquet tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the smanh package, in any environment

from dataclasses import asdict
from pathlib import Path

from smanh.registry import read_registry
from smanh.rule_io import run_rule, write_csv, write_json
from smanh.validation import RegistryValidationError, problems_frame


def main():
    registry_folder = Path(snakemake.params.registry["path"]).expanduser()
    try:
        export = read_registry(registry_folder)
    except RegistryValidationError as err:
        write_csv(problems_frame(err.problems), snakemake.params.problems)
        raise
    for table in ("patients", "events", "treatments", "assessments"):
        export.table(table).to_parquet(snakemake.output[table], index=False)
    write_json(
        {
            "path": str(registry_folder),
            "files": [asdict(s) for s in export.sources],
            "imputed_dates": [
                {"table": t, "column": c, "n": n} for (t, c), n in export.imputed_dates.items()
            ],
        },
        snakemake.output.sources,
    )


run_rule(main, snakemake.log[0])
