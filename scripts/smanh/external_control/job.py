"""What the ``external_control`` rule computes: read the trial arm (with the registry's
validation and messages that say it is the trial arm's export), build both arms' cohort
at time zero, analyse it, draw the figures from the tables as written.

Only aggregate tables and figures leave the job: no trial or registry patient identifier
is written anywhere (the trial export is read here and nowhere else).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from smanh.config.date_formats import ISO_DATE_FORMAT
from smanh.config.external_control import ExternalControlOptions
from smanh.errors import SmanhError
from smanh.external_control.analysis import analyse_external_control
from smanh.external_control.cohort import external_cohort
from smanh.figures.external_control import km_arms_figure, love_plot, overlap_figure
from smanh.ingest.export import RegistryExport
from smanh.ingest.problems import RegistryValidationError
from smanh.ingest.registry import read_registry
from smanh.jobs.files import as_written

SOURCE_COLUMNS = ["table", "name", "sha256", "rows"]


class TrialArmError(SmanhError):
    """The trial arm's export cannot be read or breaks the canonical format."""


def read_trial_arm(path: str | Path, data_cutoff: str | None = None,
                   date_format: str = ISO_DATE_FORMAT) -> RegistryExport:
    """The trial arm's export (canonical folder, Parquet folder or workbook), validated as
    a registry export is, its dates read in ``date_format``
    (``external_control.trial.date_format``, as ``registry.date_format``); every problem
    raised at once, the message naming the trial arm and the config key."""
    where = f"trial arm (external_control.trial.path '{path}')"
    try:
        return read_registry(path, data_cutoff=data_cutoff, date_format=date_format)
    except RegistryValidationError as err:
        listed = str(err).replace("the registry export has", "its export has", 1)
        raise TrialArmError(f"{where}: {listed}") from None
    except SmanhError as err:
        raise TrialArmError(f"{where}: {str(err).replace('registry export ', 'export ', 1)}") from None


@dataclass
class ExternalControlResult:
    """The tables (keyed by their names under ``results/tables/``), the figures (keyed by
    their file stems), the trial export's files (name, SHA-256, rows) for provenance and
    warnings for the job's log (a configured scale an export never records)."""

    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure]
    trial_sources: pd.DataFrame
    messages: list[str] = field(default_factory=list)


def external_control(registry: RegistryExport, trial: RegistryExport, options: ExternalControlOptions,
                     min_cell_count: int) -> ExternalControlResult:
    """The rule's work: cohort, analysis, figures."""
    cohort = external_cohort(registry, trial, options)
    analysis = analyse_external_control(cohort, options)
    drawn = {name: as_written(table) for name, table in analysis.tables.items()}
    figures = {
        f"external_control_km_{name}": km_arms_figure(
            drawn["external_control_curves"], drawn["external_control_at_risk"], name, options.landmark_years,
            min_cell_count, options.confidence_level)
        for name in options.endpoint_names
    }
    figures["external_control_love"] = love_plot(drawn["external_control_balance"])
    figures["external_control_overlap"] = overlap_figure(
        analysis.logit if analysis.logit is not None else cohort.arm * 0.0, cohort.arm, analysis.weights)
    sources = pd.DataFrame([asdict(s) for s in trial.sources], columns=SOURCE_COLUMNS)
    return ExternalControlResult(analysis.tables, figures, sources, cohort.messages)
