"""Date formats of an export (``registry.date_format``): ISO ``YYYY-MM-DD`` by default, or a
day-month-year order such as ``%d.%m.%Y`` for European exports.

A format is three directives — ``%d``, ``%m`` and ``%Y``, once each — separated by one of
``.``, ``/``, ``-``, a space, or nothing. Two-digit years (``%y``) are refused: a birth in
1950 written ``50`` cannot be told from 2050.

Partial dates follow the format with the day left out, together with its separator:
``%d.%m.%Y`` reads ``03.2015`` as March 2015 and ``2015`` as the year, imputed as ISO
partial dates are (15th of the month, 1 July; :func:`smanh.ingest.parse.parse_dates`). ISO
dates are read under any format, because a workbook's date cells arrive as ISO text and an
ISO date cannot be mistaken for a date in another order.

:func:`as_iso` rewrites the texts written in the format as ISO (full or ``YYYY-MM``) and
leaves every other text as it is, so that one strict ISO parser decides what is a date.

Examples
--------
>>> describe("%d.%m.%Y")
'DD.MM.YYYY'
>>> partial_format("%m/%d/%Y")
'%m/%Y'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from smanh.errors import ConfigError

if TYPE_CHECKING:  # pandas is only needed where tables are parsed
    import pandas as pd

ISO_DATE_FORMAT = "%Y-%m-%d"
SEPARATORS = ".", "/", "-", " ", ""
FORMAT = re.compile(r"^(%[dmY])([./ -]?)(%[dmY])([./ -]?)(%[dmY])$")
# Digits of each directive: a day or month may drop its leading zero where a separator
# ends it (1.2.2015); without separators every field has its full width.
DIGITS = {"%Y": r"\d{4}", "%m": r"\d{1,2}", "%d": r"\d{1,2}"}
GROUPS = {"%Y": "year", "%m": "month", "%d": "day"}
SHOWN = {"%Y": "YYYY", "%m": "MM", "%d": "DD"}
KEY = "registry.date_format"


def check_date_format(date_format: str, key: str = KEY) -> str:
    """``date_format`` itself, or a ``ConfigError`` naming the ``key`` and saying what is allowed."""
    match = FORMAT.match(date_format) if isinstance(date_format, str) else None
    if not match or sorted(match.group(1, 3, 5)) != ["%Y", "%d", "%m"]:
        raise ConfigError(
            f"config key '{key}': {date_format!r} must hold %d, %m and %Y once each, separated by "
            "'.', '/', '-', a space or nothing (e.g. %d.%m.%Y; two-digit years %y are not accepted)"
        )
    return date_format


def partial_format(date_format: str) -> str:
    """The format of a date without its day: the ``%d`` directive and its separator dropped."""
    directives, separators = _parts(date_format)
    day = directives.index("%d")
    # The separator that joined the day to its neighbour goes with it.
    cut = day if day < len(separators) else day - 1
    kept = [d for d in directives if d != "%d"]
    rest = separators[:cut] + separators[cut + 1 :]
    return kept[0] + rest[0] + kept[1]


def describe(date_format: str) -> str:
    """The format as users write it: ``%d.%m.%Y`` → ``DD.MM.YYYY``."""
    text = date_format
    for directive, shown in SHOWN.items():
        text = text.replace(directive, shown)
    return text


def date_rule(date_format: str = ISO_DATE_FORMAT) -> str:
    """The rule a date cell breaks when it is not a date, naming the accepted forms."""
    if date_format == ISO_DATE_FORMAT:
        return "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)"
    return (
        f"must be a date {describe(date_format)} (or partial {describe(partial_format(date_format))} / YYYY)"
        " or YYYY-MM-DD"
    )


def as_iso(values: pd.Series, date_format: str) -> pd.Series:
    """``values`` (text) with every text written in ``date_format`` — full, or partial
    without the day — rewritten as ISO ``YYYY-MM-DD`` / ``YYYY-MM``; other texts unchanged.
    Whether the day and month exist is left to the ISO parser."""
    if date_format == ISO_DATE_FORMAT or not len(values):
        return values
    result = values.copy()
    for pattern, with_day in ((_pattern(date_format), True), (_pattern(partial_format(date_format)), False)):
        parts = values.str.extract(pattern)
        found = parts["year"].notna().to_numpy()
        if not found.any():
            continue
        parts = parts[found]
        iso = parts["year"] + "-" + parts["month"].str.zfill(2)
        if with_day:
            iso = iso + "-" + parts["day"].str.zfill(2)
        result[found] = iso.to_numpy()
    return result


def _parts(date_format: str) -> tuple[list[str], list[str]]:
    match = FORMAT.match(check_date_format(date_format))
    return list(match.group(1, 3, 5)), list(match.group(2, 4))


def _pattern(date_format: str) -> str:
    """A regular expression matching the whole text in ``date_format`` (full or partial),
    its fields as named groups."""
    tokens = re.split(r"(%[dmY])", date_format)
    separated = all(token for token in tokens[2:-1:2])  # a separator between every two fields
    pattern = ""
    for token in tokens:
        if token in DIGITS:
            digits = DIGITS[token] if separated or token == "%Y" else r"\d{2}"
            pattern += f"(?P<{GROUPS[token]}>{digits})"
        else:
            pattern += re.escape(token)
    return f"^{pattern}$"
