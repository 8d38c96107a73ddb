"""Gathering per-endpoint and per-scale CSV tables into the contract's tables.

The parts are written by :func:`smanh.rule_io.write_csv` with one header each; the
gathered table is their text joined under one header (no parsing, no reformatting: at
registry scale re-parsing and re-writing the curves tables took seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

from smanh.errors import SmanhError


def concat_csv(parts, out: str | Path) -> None:
    """Write the rows of every CSV file in ``parts`` under their common header to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = None
    with open(out, "wb") as target:
        for part in parts:
            with open(part, "rb") as source:
                first = source.readline()
                if header is None:
                    header = first
                    target.write(first)
                elif first != header:
                    raise SmanhError(
                        f"{part}: its header {first.decode().strip()!r} differs from "
                        f"{header.decode().strip()!r} of the other parts of {out.name}"
                    )
                shutil.copyfileobj(source, target)
