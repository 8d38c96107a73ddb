"""Connections to an OMOP CDM database — a DuckDB file or a PostgreSQL server — behind one
small interface, and the SQL both understand.

The queries of :mod:`smanh.ingest.omop` are written once, in the SQL that DuckDB and
PostgreSQL share (``CAST(... AS VARCHAR)``, ``COALESCE``, ``lpad``, ``ROW_NUMBER()``,
``VALUES`` lists); they run in the database and return only the cohort's rows.

Connection errors become :class:`OmopError` naming the setting to fix (file, host, port,
database, user) — never the password, which comes only from ``PGPASSWORD`` or
``~/.pgpass`` (libpq's own rules).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from smanh.errors import SmanhError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# The PG* variables libpq reads for settings the config leaves out.
PG_ENVIRONMENT = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")


class OmopError(SmanhError):
    """The OMOP database cannot be read as configured: connection, missing tables or
    columns, concepts the mapping needs; the message names the setting, table or concept."""


def literal(value: str) -> str:
    """A SQL string literal (quotes doubled; backslashes are plain characters in both
    DuckDB and PostgreSQL's standard strings)."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str, setting: str) -> str:
    """A quoted schema name; only plain identifiers are accepted (named by ``setting``)."""
    if not IDENTIFIER.match(name or ""):
        raise OmopError(f"{setting}: {name!r} is not a plain schema name (letters, digits, _ and $)")
    return f'"{name}"'


class Database:
    """An open connection: :meth:`frame` runs a query and returns a DataFrame."""

    kind = ""
    label = ""  # where the data come from, for messages and provenance (no password)

    def frame(self, sql: str) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        """A query of numbers only (no NULLs) as numpy arrays: millions of rows without
        a Python object per cell."""
        frame = self.frame(sql)
        return {c: frame[c].to_numpy() for c in frame.columns}

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DuckDatabase(Database):
    """A DuckDB database file, opened read-only."""

    kind = "duckdb"

    def __init__(self, path: str | Path, setting: str = "registry.omop.duckdb"):
        import duckdb

        path = Path(path).expanduser()
        self.label = f"duckdb:{path}"
        if not path.is_file():
            raise OmopError(f"{setting}: DuckDB database file '{path}' does not exist")
        try:
            self.connection = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as err:
            raise OmopError(f"{setting}: cannot open '{path}' as a DuckDB database: {_first_line(err)}") from None
        # A workflow job runs one thread (OMP_NUM_THREADS, workflow/rules/common.smk): so does DuckDB.
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:
            self.connection.execute(f"SET threads = {int(threads)}")

    def frame(self, sql: str) -> pd.DataFrame:
        import duckdb

        try:
            return self.connection.execute(sql).df()
        except duckdb.Error as err:
            raise OmopError(f"query on {self.label} failed: {_first_line(err)}") from None

    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        import duckdb

        try:
            # through Arrow: twice as fast as fetchnumpy for a million rows of numbers
            table = self.connection.execute(sql).to_arrow_table()
            return {name: table.column(name).to_numpy() for name in table.column_names}
        except duckdb.Error as err:
            raise OmopError(f"query on {self.label} failed: {_first_line(err)}") from None

    def close(self) -> None:
        self.connection.close()


class PostgresDatabase(Database):
    """A PostgreSQL server through psycopg 3. Settings not given come from libpq's
    ``PG*`` environment variables and defaults; the password only from ``PGPASSWORD``
    or the password file (``~/.pgpass``, ``PGPASSFILE``)."""

    kind = "postgres"

    def __init__(self, settings: dict, setting: str = "registry.omop.postgres"):
        import psycopg

        if "password" in settings:
            raise OmopError(f"{setting}.password: never put a password in the config; set PGPASSWORD or use ~/.pgpass")
        options = {k: str(settings[k]) for k in ("host", "port", "dbname", "user") if settings.get(k) not in (None, "")}
        options["connect_timeout"] = str(settings.get("connect_timeout", 10))
        shown = {k: options.get(k) or os.environ.get(f"PG{k.upper().replace('DBNAME', 'DATABASE')}", "") for k in
                 ("host", "port", "dbname", "user")}
        self.label = "postgresql://{user}@{host}:{port}/{dbname}".format(**{k: v or "(default)" for k, v in shown.items()})
        try:
            self.connection = psycopg.connect(**options, autocommit=True)
        except psycopg.Error as err:
            raise OmopError(_connection_message(err, setting, self.label)) from None
        with self.connection.cursor() as cursor:
            # Text of dates as YYYY-MM-DD whatever the server's default; a read-only session.
            cursor.execute("SET DateStyle = 'ISO, YMD'; SET default_transaction_read_only = on")

    def frame(self, sql: str) -> pd.DataFrame:
        import psycopg

        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                columns = [d.name for d in cursor.description]
                rows = cursor.fetchall()
        except psycopg.Error as err:
            raise OmopError(f"query on {self.label} failed: {_first_line(err)}") from None
        if not rows:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return pd.DataFrame.from_records(rows, columns=columns)

    def close(self) -> None:
        self.connection.close()


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _connection_message(err: Exception, setting: str, label: str) -> str:
    """What went wrong connecting, and which setting to look at; the password never
    appears (libpq does not print it, and PGPASSWORD is masked should it ever)."""
    text = " ".join(str(err).split())
    password = os.environ.get("PGPASSWORD")
    if password:
        text = text.replace(password, "***")
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        hint = (f"check {setting}.user and the password in PGPASSWORD or ~/.pgpass "
                "(a password never goes in the config)")
    elif "does not exist" in lowered and "database" in lowered:
        hint = f"check {setting}.dbname"
    elif "does not exist" in lowered and "role" in lowered:
        hint = f"check {setting}.user"
    elif "timeout" in lowered or "could not translate host name" in lowered:
        hint = f"check {setting}.host"
    elif "connection refused" in lowered or "no such file or directory" in lowered or "is the server running" in lowered:
        hint = f"is the server running? check {setting}.host and {setting}.port"
    else:
        hint = f"check {setting} (host, port, dbname, user) and the PG* environment variables"
    return f"cannot connect to the PostgreSQL server {label}: {text} — {hint}"


def connect(omop: dict) -> Database:
    """The database of ``registry.omop``: ``duckdb`` (a file) or ``postgres`` (settings)."""
    if omop.get("postgres") is not None and omop.get("duckdb"):
        raise OmopError("registry.omop: give either duckdb (a database file) or postgres (a server), not both")
    if omop.get("postgres") is not None:
        return PostgresDatabase(dict(omop["postgres"]))
    if omop.get("duckdb"):
        return DuckDatabase(omop["duckdb"])
    raise OmopError("registry.omop: give duckdb (a database file) or postgres (a server)")


def default_schema(database: Database) -> str:
    """The CDM schema when the config names none: DuckDB's ``main``, PostgreSQL's ``public``."""
    return "main" if database.kind == "duckdb" else "public"


def table_columns(database: Database, schemas: list[str]) -> dict[tuple[str, str], set[str]]:
    """(schema, table) -> its columns, lower case, for the given schemas."""
    names = ", ".join(literal(s) for s in sorted(set(schemas)))
    frame = database.frame(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_schema IN ({names})"
    )
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in frame.itertuples(index=False):
        found.setdefault((schema, str(table).lower()), set()).add(str(column).lower())
    return found


def schema_names(database: Database) -> list[str]:
    frame = database.frame("SELECT DISTINCT table_schema FROM information_schema.tables")
    return sorted(str(s) for s in frame["table_schema"])
