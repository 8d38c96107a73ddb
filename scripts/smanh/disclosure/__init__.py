"""Small-cell suppression for everything the report shows.

Counts below ``min_cell_count`` are shown as ``<N`` (primary suppression). Where cells
add up to a total the report also shows (strata of one stratification, reasons of one
cohort-flow step, levels of one Table 1 characteristic), a single hidden cell could be
recovered by subtraction, so the smallest other cell is hidden too (complementary
suppression). A cell hidden only to protect another is shown rounded to ten (``≈40``):
with a small cell's partner known only to ±5, the small cell cannot be recovered.

Examples
--------
>>> hidden_cells([120, 3, 40, 57], min_cell_count=5, total_shown=True)
[False, True, True, False]
>>> show_group([120, 3, 40, 57], 5)
['120', '<5', '≈40', '57']
>>> show_count(3, 5), show_count(1234, 5)
('<5', '1,234')
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


def is_small(count, min_cell_count: int) -> bool:
    return count is not None and not _missing(count) and int(count) < min_cell_count


def hidden_cells(counts: Sequence, min_cell_count: int, total_shown: bool = True) -> list[bool]:
    """Which cells of a group to hide: the small ones, and — when the group's total is
    shown and exactly one non-zero cell is hidden — the smallest other cell as well."""
    hidden = [is_small(c, min_cell_count) for c in counts]
    lone = [int(c) for c, h in zip(counts, hidden) if h]
    # A lone hidden zero may be worked out: it discloses nobody.
    if total_shown and len(lone) == 1 and lone[0] > 0:
        others = [(int(c), i) for i, c in enumerate(counts) if not hidden[i] and not _missing(c)]
        if others:
            hidden[min(others)[1]] = True
    return hidden


def show_count(count, min_cell_count: int, hidden: bool | None = None) -> str:
    """A count as the report shows it: ``<N`` when small, ``≈`` rounded to ten when hidden
    only to protect another cell."""
    if count is None or _missing(count):
        return ""
    if is_small(count, min_cell_count):
        return f"<{min_cell_count}"
    if hidden:
        return f"≈{(int(count) + 5) // 10 * 10:,}"
    return f"{int(count):,}"


def show_group(counts: Sequence, min_cell_count: int, total_shown: bool = True) -> list[str]:
    """The counts of one group as shown, with complementary suppression."""
    hidden = hidden_cells(counts, min_cell_count, total_shown)
    return [show_count(c, min_cell_count, h) for c, h in zip(counts, hidden)]


def _missing(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# A count in running text: a whole number before a word that counts people or records
# (optionally with its percentage), not after "<", "≈" or inside a decimal.
COUNT_IN_TEXT = re.compile(
    r"(?<![\w.,<≈])(\d+)((?:\s*\(\d+%\))? (?:patient\(s\)|"
    r"(?:patients?|events?|deaths?|records?|rows?|assessments?|pairs?|with)\b))")


def plain_text(text, min_cell_count: int):
    """``text`` with every count from 1 to ``min_cell_count - 1`` written "fewer than T"
    (notes of released tables, sentences of the report); "fewer than 2 patients" becomes
    "fewer than T patients"."""
    if not isinstance(text, str):
        return text

    def rewrite(match):
        if not 0 < int(match[1]) < min_cell_count:
            return match[0]
        if re.search(r"than\s*$", text[max(0, match.start() - 12):match.start()]):  # "fewer than 2 patients"
            return f"{min_cell_count}{match[2]}"
        return f"fewer than {min_cell_count}{match[2]}"

    return COUNT_IN_TEXT.sub(rewrite, text)
