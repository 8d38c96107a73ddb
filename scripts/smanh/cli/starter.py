"""``smanh init``: a starter config for an export.

What is chosen for the export:

* ``registry``: the detected format and the export's files (absolute paths), and the date
  format its date cells are written in (:func:`detected_date_format`);
* ``analysis.endpoints``: the built-in endpoints the export can support — each of its events
  occurs at least once (``death``: some patient has a ``death_date``) and so does its
  population event (e.g. ``walks_independently``); the others stay in the file as comments
  saying what is missing, and each is warned about;
* ``progression.scales``: the scales with at least one assessment;
* ``analysis.stratify_by``: the default without ``smn2_copies`` when no patient has one.

Every other key is written at its default, taken from the config schema (the one source of
defaults), with the schema's description as a comment. The file is validated before it is
written.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import smanh
from smanh.cli.check import problem_message
from smanh.cli.exports import ExportSource
from smanh.config.date_formats import ISO_DATE_FORMAT, describe
from smanh.config.endpoints import DEATH, endpoint
from smanh.config.validation import validate_config

# Orders tried when the export's dates are not ISO; the first that reads the most dates wins,
# ISO first among equals (an ISO export reads the same under every format).
CANDIDATE_DATE_FORMATS = (ISO_DATE_FORMAT, "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d")
COMMENT_WIDTH = 92
# Keys without default that belong to one export format only: left out for the other.
OTHER_FORMAT_KEYS = ("registry.path", "registry.redcap.export", "registry.redcap.dictionary",
                     "registry.redcap.mapping")
# Sections of one export format only: left out unless chosen (an OMOP database has no path to
# start from: its section is written by hand, README "OMOP CDM databases").
OTHER_FORMAT_SECTIONS = ("registry.omop",)
# Analyses off unless their section is written (its keys need the user's own inputs, e.g. a
# trial arm): the file names the section, commented out, and points to its documentation.
OPTIONAL_SECTIONS = ("external_control",)
# Optional patient columns behind a default stratification.
STRATIFICATION_COLUMNS = {"smn2_copies": "smn2_copies"}


@dataclass
class StarterConfig:
    """The chosen keys, what was left out (key path -> [(value, reason)]) and warnings."""

    chosen: dict
    left_out: dict[str, list[tuple[object, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def write_starter_config(
    source: ExportSource,
    output: Path | None,
    schema: dict,
    date_format: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> int:
    """Read the export, choose what it supports, write the config (``output`` or, when
    None, ``echo`` it); 1 when the export cannot be read (its problems are printed)."""
    from smanh.ingest.problems import RegistryValidationError  # the ingest stack (pandas): when it runs
    from smanh.ingest.registry import build_export, read_tables  # the same

    if output is not None and output.exists() and not force:
        warn(f"ERROR: {output} exists; choose another file or overwrite it with --force")
        return 1
    tables, file_problems, sources = read_tables(**source.read_arguments())
    warnings = []
    if date_format is None:
        date_format, ambiguous = detected_date_format(tables)
        if ambiguous:
            warnings.append(ambiguous)
    try:
        export = build_export(tables, file_problems, sources, on_invalid="exclude", date_format=date_format)
    except RegistryValidationError as error:  # problems of whole files: nothing to choose from
        warn(problem_message(error))
        warn(f"Fix these first (smanh check {source.name} lists every problem).")
        return 1
    starter = choose(export, source, date_format, schema)
    starter.warnings[:0] = warnings
    if export.problems:
        starter.warnings.append(
            f"the export has {len(export.problems):,} problem(s) ({len(export.excluded):,} patient(s) would be "
            f"excluded with registry.on_invalid: exclude); list them with: smanh check {source.name}"
        )
    text = config_text(schema, starter, source)
    _validated(text, schema)
    for message in starter.warnings:
        warn(f"warning: {message}")
    if output is None:
        echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        analysis, progression = starter.chosen["analysis"], starter.chosen["progression"]
        warn(
            f"Wrote {output}: {source.description}, dates {describe(date_format)}, "
            f"{len(analysis['endpoints'])} endpoint(s), {len(progression['scales'])} scale(s). "
            f"Run it with: smanh run --config {output}"
        )
    return 0


def detected_date_format(tables) -> tuple[str, str]:
    """The candidate format under which the fewest non-blank date cells fail, and a warning
    when day/month and month/day orders read the dates equally well."""
    import pandas as pd

    from smanh.ingest.export_format import TABLES  # the ingest stack (pandas): when it runs
    from smanh.ingest.parse import parse_dates  # the same

    texts = set()
    for name, table in tables.items():
        for column in (c.name for c in TABLES[name].columns if c.kind == "date"):
            if column in table.data.columns:
                texts.update(table.data[column].fillna("").astype(str))
    texts.discard("")
    values = pd.Series(sorted(texts), dtype=object)
    failures = {f: int(parse_dates(values, f)[1].sum()) for f in CANDIDATE_DATE_FORMATS}
    best = min(failures, key=lambda f: (failures[f], CANDIDATE_DATE_FORMATS.index(f)))
    ambiguous = ""
    if best in ("%d/%m/%Y", "%m/%d/%Y") and failures["%d/%m/%Y"] == failures["%m/%d/%Y"] < len(values):
        ambiguous = (
            "the dates read as well day first (DD/MM/YYYY) as month first (MM/DD/YYYY): every day is at most 12; "
            f"{describe(best)} was chosen: check registry.date_format"
        )
    return best, ambiguous


def choose(export, source: ExportSource, date_format: str, schema: dict) -> StarterConfig:
    """The keys chosen for this export, what was left out of the defaults and why."""
    defaults = _defaults(schema)
    starter = StarterConfig({
        "registry": {**source.registry_config(), "date_format": date_format},
        "analysis": {},
        "progression": {},
    })
    occurring = set(export.events["event"].astype(str)) if len(export.events) else set()
    if export.patients["death_date"].notna().any():
        occurring.add(DEATH)
    endpoints, left_out = [], []
    for name in defaults["analysis"]["endpoints"]:
        spec = endpoint(name)
        missing = [e for e in spec.events if e not in occurring]
        reasons = [_absent(e) for e in missing]
        if spec.population and spec.population not in occurring:
            reasons.append(f"{_absent(spec.population)} (its population)")
        if reasons:
            left_out.append((name, "; ".join(reasons)))
        else:
            endpoints.append(name)
    starter.warnings += [f"endpoint {name} left out: {reason}" for name, reason in left_out]
    if not endpoints:  # analysis.endpoints needs one: death, which needs nothing but patients
        endpoints = [DEATH]
        left_out = [(name, reason) for name, reason in left_out if name != DEATH]
        starter.warnings.append("no endpoint's events occur in the export; death is kept so that the config is "
                                "valid (its Kaplan-Meier curve will have no events)")
    starter.chosen["analysis"]["endpoints"] = endpoints
    starter.left_out["analysis.endpoints"] = left_out

    assessed = set(export.assessments["scale"].astype(str)) if len(export.assessments) else set()
    scales, left_out = [], []
    for scale in defaults["progression"]["scales"]:
        (scales if scale in assessed else left_out).append(scale)
    starter.chosen["progression"]["scales"] = scales
    starter.left_out["progression.scales"] = [(s, f"no {s} assessment in the export") for s in left_out]
    starter.warnings += [f"scale {s} left out: no {s} assessment in the export" for s in left_out]

    stratify_by, left_out = [], []
    for by in defaults["analysis"]["stratify_by"]:
        column = STRATIFICATION_COLUMNS.get(by)
        if column and not export.patients[column].notna().any():
            left_out.append((by, f"no patient has {column}"))
        else:
            stratify_by.append(by)
    if left_out:
        starter.chosen["analysis"]["stratify_by"] = stratify_by
        starter.left_out["analysis.stratify_by"] = left_out
        starter.warnings += [f"stratification {by} left out: {reason}" for by, reason in left_out]
        starter.warnings.append(
            "analysis.cox_models (default) name smn2_copies: those models will be reported as not fitted; "
            "edit analysis.cox_models"
        )
    return starter


def _absent(event: str) -> str:
    return "no patient has a death_date" if event == "death" else f"no {event} event in the export"


def config_text(schema: dict, starter: StarterConfig, source: ExportSource) -> str:
    """The config as commented YAML: every key of the schema that has a default or was
    chosen, each after its description."""
    lines = [
        f"# smanh {smanh.__version__} configuration for {source.name}, written by `smanh init`.",
        "# Keys marked 'chosen for this export' follow from the export; every other key is at its",
        "# default (workflow/schemas/config.schema.yaml). Every key: config/README.md.",
        "# Run with: smanh run --config <this file> --out <run directory>",
    ]
    for key, sub in schema["properties"].items():
        lines += _key_lines(key, sub, starter.chosen.get(key), key, starter, 0)
    return "\n".join(lines) + "\n"


def _key_lines(key: str, sub: dict, chosen, path: str, starter: StarterConfig, depth: int,
               inherited=None) -> list[str]:
    """``inherited``: the key's part of its parent's default (a change threshold's value
    and source), which wins over the key's own default."""
    indent = "  " * depth
    own = inherited if inherited is not None else sub.get("default")
    value = chosen if chosen is not None else copy.deepcopy(own)
    if value is None and "properties" not in sub and path in OTHER_FORMAT_KEYS:
        return []  # the key of the other export format (registry.path of a REDCap export)
    if chosen is None and path in OTHER_FORMAT_SECTIONS:
        return []
    if chosen is None and path in OPTIONAL_SECTIONS:
        return ["", f"# {key}: off unless configured; every key in config/README.md", f"# {key}:"]
    lines = [""] if depth == 0 else []
    if sub.get("description"):
        lines += [f"{indent}# {line}" for line in textwrap.wrap(" ".join(sub["description"].split()),
                                                                 COMMENT_WIDTH - len(indent) - 2)]
    if value is None and "properties" not in sub:  # no default (e.g. registry.data_cutoff): unset
        return lines + [f"{indent}# {key}:"]
    if chosen is not None and "properties" not in sub:
        lines.append(f"{indent}# (chosen for this export)")
    if "properties" in sub and (isinstance(value, dict) or value is None):
        children = [
            line
            for child, child_sub in sub["properties"].items()
            for line in _key_lines(child, child_sub, (chosen or {}).get(child), f"{path}.{child}", starter,
                                   depth + 1, value.get(child) if isinstance(value, dict) else None)
        ]
        if not children:
            return []
        if all(line.lstrip().startswith("#") for line in children):  # nothing set inside: leave it unset
            return lines + [f"{indent}# {key}:", *children]
        return lines + [f"{indent}{key}:", *children]
    # Chosen lists one item a line, so that the items left out can follow as comments; so
    # are lists of mappings (Cox models), one model a line.
    if isinstance(value, list) and value and (chosen is not None or any(isinstance(v, dict) for v in value)):
        lines += [f"{indent}{key}:", *(f"{indent}- {_flow(item)}" for item in value)]
    else:
        lines.append(f"{indent}{key}: {_flow(value)}")
    for left_value, reason in starter.left_out.get(path, []):
        lines.append(f"{indent}# - {left_value}    # left out: {reason}")
    return lines


def _flow(value) -> str:
    """``value`` as YAML on one line (flow style; quoted where YAML needs it)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=float("inf"))
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _defaults(schema: dict) -> dict:
    return validate_config({"registry": {"path": "-"}}, schema)


def _validated(text: str, schema: dict) -> None:
    """The written config must pass the workflow's own validation."""
    validate_config(yaml.safe_load(text), schema)
