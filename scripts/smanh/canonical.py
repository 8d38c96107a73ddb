"""The typed canonical tables as stored between rules (Parquet)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from smanh.registry import RegistryExport

TABLE_NAMES = ("patients", "events", "treatments", "assessments")


def load_canonical(paths: Mapping[str, str]) -> RegistryExport:
    """Read the Parquet tables written by the ingest rule; a table not in ``paths`` is left
    empty (its columns unknown: for steps that do not use it)."""
    return RegistryExport(
        **{t: pd.read_parquet(paths[t]) if t in paths.keys() else pd.DataFrame() for t in TABLE_NAMES}
    )
