"""The ``smanh`` command line (entry point ``smanh = smanh.cli:main`` in pyproject.toml).

Exit status: 0 when the command did what it was asked, 1 when the export, the config or the
run failed (with the project's own message, never a traceback), 2 for a wrong command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

import smanh
from smanh.errors import SmanhError

EXPORT_FORMATS = click.Choice(["canonical", "redcap"])


def _fail(message: str) -> None:
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(1)


def _date_format(ctx, param, value):
    if value is None:
        return value
    from smanh.config.date_formats import check_date_format  # only when the option is given

    try:
        return check_date_format(value)
    except SmanhError as error:
        raise click.BadParameter(str(error).replace("config key 'registry.date_format': ", "")) from None


def _source(path, export_format, dictionary, mapping):
    from smanh.cli.exports import locate_export  # the commands' modules load when they run

    return locate_export(path, export_format, dictionary, mapping)


class _Group(click.Group):
    """Project errors end the command with their message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SmanhError as error:
            _fail(str(error))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(smanh.__version__, "-V", "--version", prog_name="smanh")
def main():
    """Natural history of spinal muscular atrophy from registry exports.

    \b
      smanh check EXPORT              validate an export, print every problem
      smanh init EXPORT -o my.yaml    write a starter config for it
      smanh run --config my.yaml --out RUN-DIR
                                      run the workflow; the report is under RUN-DIR/results/
    """


export_options = [
    click.argument("path", type=click.Path(exists=True, path_type=Path)),
    click.option("--format", "export_format", type=EXPORT_FORMATS, default=None,
                 help="Export format (registry.format); default: detected from PATH."),
    click.option("--dictionary", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                 help="REDCap data dictionary (default: the one CSV file beside the export naming "
                      "'Variable / Field Name')."),
    click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                 help="REDCap mapping (default: the bundled config/redcap_mapping.yaml)."),
]


def with_export_options(command):
    for option in reversed(export_options):
        command = option(command)
    return command


@main.command()
@with_export_options
@click.option("--date-format", default="%Y-%m-%d", show_default=True, callback=_date_format,
              help="How the export writes dates (registry.date_format), e.g. %d.%m.%Y.")
@click.option("--data-cutoff", default=None, metavar="YYYY-MM-DD",
              help="The export's data cut-off (registry.data_cutoff): a later date is a problem. Default: today.")
@click.option("--problems-csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every problem to this CSV file (file, line, column, value, rule).")
def check(path, export_format, dictionary, mapping, date_format, data_cutoff, problems_csv):
    """Validate the export at PATH as the workflow's ingest does, without analysing it.

    PATH is a folder of CSV or Parquet files, an .xlsx workbook, or a REDCap export (its
    .csv file, or a folder holding it and its data dictionary). Every problem is printed
    (file, line, column, value, rule); exit status 0 when there is none, 1 otherwise.
    """
    from smanh.cli.check import check_export  # the commands' modules load when they run

    source = _source(path, export_format, dictionary, mapping)
    sys.exit(check_export(source, date_format, problems_csv, echo=click.echo, data_cutoff=data_cutoff))


@main.command()
@with_export_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the config to this file (default: print it).")
@click.option("--date-format", default=None, callback=_date_format,
              help="How the export writes dates (default: detected from its date cells).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def init(path, export_format, dictionary, mapping, output, date_format, force):
    """Write a starter config for the export at PATH.

    The config names the export (detected format, date format) and the endpoints and motor
    scales the export can support; every other key is at its default, with a comment.
    Endpoints and scales left out are listed as comments and warned about.
    """
    from smanh.cli.paths import workflow_file  # the commands' modules load when they run
    from smanh.cli.starter import write_starter_config  # the same
    from smanh.config.validation import SCHEMA, load_schema  # jsonschema: the same

    source = _source(path, export_format, dictionary, mapping)
    schema = load_schema(workflow_file(SCHEMA))
    sys.exit(write_starter_config(source, output, schema, date_format, force,
                                  echo=click.echo, warn=lambda m: click.echo(m, err=True)))


@main.command()
@click.option("-c", "--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Config file (default: the bundled config/config.yaml on the sample registry).")
@click.option("--registry", type=click.Path(exists=True, path_type=Path), default=None,
              help="The canonical export to analyse (overrides registry.path).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Run directory: results under OUT/results, logs under OUT/logs.")
@click.option("--cores", type=click.IntRange(min=1), default=None,
              help="Cores for a local run (default: the profile's, 2).")
@click.option("--slurm", is_flag=True, help="Submit the jobs to SLURM (workflow/profiles/slurm).")
@click.option("--pdf", is_flag=True, help="Also print the report to results/report/report.pdf (needs chromium).")
@click.option("-v", "--verbose", is_flag=True, help="Show Snakemake's own output instead of a line per job.")
@click.argument("snakemake_options", nargs=-1, type=click.UNPROCESSED)
def run(config, registry, out, cores, slurm, pdf, verbose, snakemake_options):
    """Run the workflow and print the report's path.

    Options after -- go to Snakemake as they are (e.g. smanh run --config my.yaml -- --dry-run).
    """
    from smanh.cli.run import run_workflow  # the commands' modules load when they run

    sys.exit(run_workflow(config, registry, out, cores, slurm, pdf, verbose, snakemake_options, echo=click.echo))
