"""The ingest step and the files it leaves for the later steps.

:func:`ingest` reads and validates the configured export (writing every problem to
``problems.csv``), :func:`store_export` writes the typed canonical tables (Parquet), the
validation exclusions and the provenance (``sources.json``), and :func:`load_canonical`
and :func:`validation_exclusions` read them back: both sides of each file are here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from smanh.config.date_formats import ISO_DATE_FORMAT
from smanh.config.tables import REGISTRY_TABLES
from smanh.ingest.export import RegistryExport
from smanh.ingest.problems import RegistryValidationError, problems_frame
from smanh.ingest.registry import read_registry
from smanh.jobs.files import write_csv, write_json, write_parquet


def ingest(registry: dict, redcap: Mapping[str, str], problems_csv: str | Path,
           omop: Mapping | None = None) -> tuple[RegistryExport, str]:
    """The export of the ``registry`` config section, typed and validated, and where it
    was read from. Every problem goes to ``problems_csv`` (removed when there are none,
    never a stale list from an earlier run); with ``on_invalid: error`` they stop the run.
    ``omop``: for ``format: omop``, the keyword arguments of
    :func:`smanh.ingest.omop.read_omop` (database, schemas, mapping, the slots the config needs)."""
    problems_csv = Path(problems_csv)
    problems_csv.unlink(missing_ok=True)
    if registry["format"] == "redcap":
        source = dict(redcap)
        location, kwargs = source["export"], {"format": "redcap", "redcap": source}
    elif registry["format"] == "omop":
        source = dict(omop or {})
        location, kwargs = source.get("duckdb") or "postgres", {"format": "omop", "omop": source}
    else:
        location = str(Path(registry["path"]).expanduser())
        kwargs = {"path": location}
    try:
        export = read_registry(on_invalid=registry["on_invalid"], data_cutoff=registry.get("data_cutoff"),
                               date_format=registry.get("date_format", ISO_DATE_FORMAT), **kwargs)
    except RegistryValidationError as err:
        write_csv(problems_frame(err.problems), problems_csv)
        raise RegistryValidationError(err.problems, written_to=str(problems_csv)) from None
    # an OMOP database: where it is, as its reader names it (a server without password)
    location = next((s.name for s in export.sources if s.table == "omop_database"), location)
    for source in export.sources:  # how a file was decoded, when it was not plain UTF-8: in the job's log
        if source.note:
            print(source.note, file=sys.stderr)
    if export.problems:
        write_csv(problems_frame(export.problems), problems_csv)
        print(
            f"{len(export.problems)} problem(s) in the export; {len(export.excluded)} patient(s) "
            f"excluded (on_invalid: exclude), see {problems_csv}",
            file=sys.stderr,
        )
    return export, location


def store_export(export: RegistryExport, registry: dict, location: str, paths: Mapping[str, str]) -> None:
    """The canonical tables (one Parquet file each; ``paths[<table>]``), the patients
    excluded at validation per reason (``paths["exclusions"]``) and the provenance of the
    export (``paths["sources"]``)."""
    for table in ("patients", "events", "treatments"):
        write_parquet(export.table(table), paths[table])
    # grouped by scale, a row group each: each progression job reads only its own scale
    write_parquet(export.table("assessments"), paths["assessments"], row_groups_by="scale")
    write_csv(export.excluded.groupby("reason", sort=True).size().rename("n").reset_index(),
              paths["exclusions"])
    write_json(
        {
            "format": registry["format"],
            "path": location,
            "on_invalid": registry["on_invalid"],
            "date_format": registry.get("date_format", ISO_DATE_FORMAT),
            "data_cutoff": export.data_cutoff.isoformat(),
            "data_cutoff_from": "registry.data_cutoff" if registry.get("data_cutoff") else "run date",
            "files": [asdict(s) for s in export.sources],
            "imputed_dates": [
                {"table": t, "column": c, "n": n} for (t, c), n in export.imputed_dates.items()
            ],
            "patients_in_export": export.n_in_export,
            "patients_excluded": len(export.excluded),
            "orphan_rows_dropped": export.dropped_rows,
        },
        paths["sources"],
    )


def load_canonical(paths: Mapping[str, str]) -> RegistryExport:
    """Read the Parquet tables written by :func:`store_export`; a table not in ``paths`` is
    left empty (its columns unknown: for steps that do not use it)."""
    return RegistryExport(
        **{t: pd.read_parquet(paths[t]) if t in paths.keys() else pd.DataFrame() for t in REGISTRY_TABLES}
    )


def validation_exclusions(exclusions: str | Path, sources: str | Path) -> tuple[int, dict[str, int]]:
    """``(patients in the export, {reason: patients excluded at validation})`` as
    :func:`store_export` wrote them."""
    with open(sources, encoding="utf-8") as handle:
        n_in_export = int(json.load(handle)["patients_in_export"])
    table = pd.read_csv(exclusions, dtype={"reason": str, "n": int}, keep_default_na=False)
    return n_in_export, dict(zip(table["reason"], table["n"].astype(int)))
