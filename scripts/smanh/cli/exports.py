"""Which export a path names, and in which format (``registry.format``).

* an ``.xlsx`` file, or a folder holding ``patients.csv`` (or any canonical table as
  ``<table>.csv`` / ``<table>.parquet``): a **canonical** export;
* a ``.csv`` file, or a folder holding exactly one REDCap data dictionary (its header names
  ``Variable / Field Name``) and one other CSV file: a **REDCap** export with its dictionary,
  read through the bundled mapping unless another is given.

Only file names and header lines are read here (no pandas): the tables themselves are read
by :func:`smanh.ingest.registry.read_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smanh.cli.paths import REDCAP_MAPPING
from smanh.config.tables import REGISTRY_TABLES as CANONICAL_TABLES
from smanh.errors import SmanhError

FORMATS = ("canonical", "redcap")
DICTIONARY_HEADER = "Variable / Field Name"
HEADER_BYTES = 65536


@dataclass(frozen=True)
class ExportSource:
    """An export located on disk: its format and files, as ``read_registry`` takes them."""

    format: str
    kind: str  # what the user pointed at, in words
    path: Path | None = None  # canonical: the folder or workbook
    export: Path | None = None  # redcap: the export, its dictionary and the mapping
    dictionary: Path | None = None
    mapping: Path | None = None

    def read_arguments(self) -> dict:
        """Keyword arguments of :func:`smanh.ingest.registry.read_tables` / ``read_registry``."""
        if self.format == "canonical":
            return {"path": self.path, "format": "canonical"}
        return {"format": "redcap", "redcap": {
            "export": self.export, "dictionary": self.dictionary, "mapping": self.mapping or REDCAP_MAPPING}}

    def registry_config(self) -> dict:
        """The ``registry`` keys that name this export (absolute paths: a config is used
        from other directories)."""
        if self.format == "canonical":
            return {"format": "canonical", "path": str(self.path)}
        redcap = {"export": str(self.export), "dictionary": str(self.dictionary)}
        if self.mapping is not None:
            redcap["mapping"] = str(self.mapping)
        return {"format": "redcap", "redcap": redcap}

    @property
    def name(self) -> str:
        return str(self.path if self.format == "canonical" else self.export)

    @property
    def description(self) -> str:
        if self.format == "canonical":
            return f"canonical export ({self.kind})"
        mapping = self.mapping or REDCAP_MAPPING
        return f"REDCap export (data dictionary {self.dictionary.name}, mapping {mapping.name})"


def locate_export(
    path: str | Path,
    format: str | None = None,  # noqa: A002 - the config key's name
    dictionary: str | Path | None = None,
    mapping: str | Path | None = None,
) -> ExportSource:
    """The export at ``path``; ``format`` (``canonical`` / ``redcap``) skips the detection."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise SmanhError(f"'{path}' does not exist")
    if format not in (None, *FORMATS):
        raise SmanhError(f"unknown export format {format!r} (one of: {', '.join(FORMATS)})")
    if dictionary is not None or mapping is not None:
        if format == "canonical":
            raise SmanhError("--dictionary and --mapping belong to REDCap exports (--format redcap)")
        format = "redcap"
    if format is None:
        format = _detected_format(path)
    if format == "canonical":
        return ExportSource("canonical", _canonical_kind(path), path=path)
    export, found_dictionary = _redcap_files(path, dictionary)
    mapping = Path(mapping).expanduser().resolve() if mapping is not None else None
    return ExportSource("redcap", "REDCap export", export=export,
                        dictionary=found_dictionary, mapping=mapping)


def _detected_format(path: Path) -> str:
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".xlsx":
            return "canonical"
        if suffix == ".csv":
            return "redcap"
        raise SmanhError(f"'{path}' is neither a folder, an .xlsx workbook nor a REDCap .csv export")
    if _canonical_files(path):
        return "canonical"
    csvs = sorted(path.glob("*.csv"))
    if any(_is_dictionary(f) for f in csvs):
        return "redcap"
    raise SmanhError(
        f"'{path}' holds no canonical export ({', '.join(t + '.csv' for t in CANONICAL_TABLES)}, or the "
        "same as .parquet) and no REDCap export with its data dictionary"
    )


def _canonical_files(folder: Path) -> list[Path]:
    return [folder / f"{t}{s}" for t in CANONICAL_TABLES for s in (".csv", ".parquet") if (folder / f"{t}{s}").is_file()]


def _canonical_kind(path: Path) -> str:
    if path.is_file():
        return ".xlsx workbook"
    files = _canonical_files(path)
    return "folder of Parquet files" if files and all(f.suffix == ".parquet" for f in files) else "folder of CSV files"


def _redcap_files(path: Path, dictionary: str | Path | None) -> tuple[Path, Path]:
    """The export and its data dictionary: given, or the folder's one dictionary and one
    other CSV file."""
    if dictionary is not None:
        dictionary = Path(dictionary).expanduser().resolve()
        if not dictionary.is_file():
            raise SmanhError(f"data dictionary '{dictionary}' does not exist")
    folder = path if path.is_dir() else path.parent
    csvs = sorted(folder.glob("*.csv"))
    if dictionary is None:
        dictionaries = [f for f in csvs if _is_dictionary(f)]
        if len(dictionaries) != 1:
            found = ", ".join(f.name for f in dictionaries) or "none"
            raise SmanhError(
                f"cannot tell the REDCap data dictionary in '{folder}' (CSV files whose header names "
                f"'{DICTIONARY_HEADER}': {found}); name it with --dictionary"
            )
        dictionary = dictionaries[0]
    if path.is_file():
        return path, dictionary
    exports = [f for f in csvs if f != dictionary and not _is_dictionary(f)]
    if len(exports) != 1:
        found = ", ".join(f.name for f in exports) or "none"
        raise SmanhError(
            f"cannot tell the REDCap export in '{folder}' (CSV files besides the data dictionary: {found}); "
            "name the export file instead of the folder"
        )
    return exports[0], dictionary


def _is_dictionary(file: Path) -> bool:
    """Whether the file's header line names REDCap's ``Variable / Field Name`` column."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError:
        return False
    first_line = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
    return bool(first_line) and DICTIONARY_HEADER in first_line[0]
