"""Text cells from the numbers an OMOP query returns: dates, scores and birth dates as a
canonical export writes them, each distinct value formatted once (a million assessments
share a few thousand dates and a few hundred scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def number_texts(values: np.ndarray) -> np.ndarray:
    """Numbers as a canonical export writes them: whole numbers without a decimal point
    (``4``), others in their shortest exact form (``21.5``); NaN blank."""
    values = np.asarray(values, dtype=float)
    whole = bool((np.abs(values) < 1e15).all() and (values == np.round(values)).all())  # NaN: False
    span = _small_range(values.astype(np.int64)) if whole else None
    if span is not None:  # scores and copy numbers: whole numbers in a small range
        texts = np.array([str(v) for v in range(span[0], span[1] + 1)], dtype=object)
        return texts[values.astype(np.int64) - span[0]]
    codes, distinct = pd.factorize(values)  # NaN -> -1
    texts = [str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v)) for v in distinct]
    return np.array([*texts, ""], dtype=object)[codes]


def birth_texts(parts: pd.DataFrame) -> np.ndarray:
    """Birth dates as a canonical export writes them, from ``year``, ``month``, ``day``,
    ``birth_day`` (of ``birth_datetime``, days since 1970) and ``missing`` (bit flags of
    NULL year 1, month 2, day 4, birth_datetime 8): all three parts give the full date;
    otherwise ``birth_datetime``'s date; otherwise ``YYYY-MM`` or ``YYYY`` (partial dates,
    imputed and counted by the validation); no year: blank."""
    values = np.ascontiguousarray(parts.to_numpy(dtype=np.int64))
    rows = values.view(np.dtype((np.void, values.dtype.itemsize * values.shape[1]))).ravel()
    _, first, codes = np.unique(rows, return_index=True, return_inverse=True)  # distinct dates
    texts = []
    for year, month, day, birth_day, missing in values[first]:
        if missing & 1:
            texts.append("")
        elif not missing & 6:
            texts.append(f"{year}-{month:02d}-{day:02d}")
        elif not missing & 8:
            texts.append(str(np.datetime64(int(birth_day), "D")))
        elif not missing & 2:
            texts.append(f"{year}-{month:02d}")
        else:
            texts.append(str(year))
    return np.array(texts, dtype=object)[codes.ravel()]


def sorted_rows(rows: dict[str, np.ndarray], *keys: str) -> dict[str, np.ndarray]:
    """Rows (numpy columns) ordered by ``keys`` (row ids: unique), a deterministic order;
    numpy's stable sort of the ids (read nearly in order) beats the database's sort of a
    million rows by several keys."""
    columns = [np.asarray(rows[k], dtype=np.int64) for k in keys]
    if len(columns[0]) < 2:
        return rows
    in_order = np.ones(len(columns[0]) - 1, dtype=bool)  # each row after the previous one
    decided = np.zeros(len(columns[0]) - 1, dtype=bool)
    for column in columns:
        step = np.diff(column)
        in_order &= decided | (step >= 0)
        decided |= step != 0
    if in_order.all() and decided.all():
        return rows  # already in order (a one-thread scan of a table written in id order)
    order = np.lexsort(columns[::-1])
    return {c: np.asarray(v)[order] for c, v in rows.items()}


def constant(n: int, text: str) -> np.ndarray:
    """n times the same str object (np.full converts the text n times: 100 times slower)."""
    return np.array([text], dtype=object).repeat(n)


def _small_range(values: np.ndarray) -> tuple[int, int] | None:
    """(lowest, highest) of integer values spanning at most as many as there are values
    (a lookup table over the span is then cheaper than hashing every value), else None."""
    if not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    return (low, high) if high - low <= max(len(values), 1000) else None


def day_texts(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as ``YYYY-MM-DD``, each distinct day formatted once."""
    days = np.asarray(days, dtype=np.int64)
    span = _small_range(days)
    if span is not None:  # registry dates: a few decades of days
        every = np.arange(span[0], span[1] + 1).astype("datetime64[D]")
        return np.datetime_as_string(every, unit="D").astype(object)[days - span[0]]
    codes, distinct = pd.factorize(days)
    texts = np.datetime_as_string(distinct.astype("datetime64[D]"), unit="D").astype(object)
    return texts[codes]
