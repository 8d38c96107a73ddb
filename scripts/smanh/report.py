"""The self-contained reviewer report: one HTML file, figures embedded, counts suppressed.

Every number shown comes from ``results/tables/`` or ``results/summary.json``; counts
below ``min_cell_count`` are shown as ``<N``. No patient identifier or date is passed to
the template.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from smanh.endpoints import ENDPOINTS, EXCLUSION_REASONS

COUNT_COLUMNS = ("n", "events", "at_risk")


def suppress_count(value, min_cell_count: int) -> str:
    """A count as shown in the report: ``<min`` below the threshold."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = int(value)
    return f"<{min_cell_count}" if value < min_cell_count else f"{value:,}"


def format_number(value, digits: int = 2) -> str:
    """Estimates to ``digits`` decimals; not reached / not estimable as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def display_table(frame: pd.DataFrame, min_cell_count: int, digits: int = 2) -> pd.DataFrame:
    """The table with counts suppressed and estimates rounded, all as text."""
    shown = frame.copy().astype(object)
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            shown[column] = [suppress_count(v, min_cell_count) for v in frame[column]]
        elif pd.api.types.is_float_dtype(frame[column]):
            shown[column] = [format_number(v, digits) for v in frame[column]]
    return shown


def embed_png(path: str | Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def methods_context(config: dict) -> dict:
    analysis = config["analysis"]
    return {
        "endpoints": [
            {"name": name, "description": ENDPOINTS[name].description} for name in analysis["endpoints"]
        ],
        "censor_at_treatment": analysis["censor_at_treatment"],
        "landmark_ages": analysis["landmark_ages"],
        "confidence_level": analysis["confidence_level"],
        "stratify_by": analysis["stratify_by"],
        "exclusion_reasons": EXCLUSION_REASONS,
    }


def render_report(
    template_path: str | Path,
    *,
    title: str,
    summary: dict,
    cohort_flow: pd.DataFrame,
    km_summary: pd.DataFrame,
    figures: list[str | Path],
    min_cell_count: int,
) -> str:
    """Render the HTML report from the run's tables, summary and figures."""
    template_path = Path(template_path)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path.parent),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template(template_path.name)
    km_by_endpoint = {
        name: display_table(rows.drop(columns="endpoint"), min_cell_count)
        for name, rows in km_summary.groupby("endpoint", sort=False)
    }
    return template.render(
        title=title,
        summary=summary,
        min_cell_count=min_cell_count,
        methods=methods_context(summary["config"]),
        cohort_flow=display_table(cohort_flow, min_cell_count),
        km_by_endpoint=km_by_endpoint,
        figures={Path(f).stem.removeprefix("km_"): embed_png(f) for f in figures},
        config_yaml=yaml.safe_dump(summary["config"], sort_keys=False),
    )
