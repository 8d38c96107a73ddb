"""The cohort flow as a STROBE flow diagram: an inline SVG, no external resources.

Drawn from ``results/tables/cohort_flow.csv``: patients in the export → excluded at
validation (per reason) → patients passing validation → per endpoint excluded (per
reason) and analysed. Counts go through :func:`smanh.report.html.suppress_count`, so counts
below ``report.min_cell_count`` are shown as ``<N``; reasons with no patient are left out.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from smanh.disclosure import show_count, show_group

WIDTH = 780
MAIN_X, MAIN_W = 20, 330
SIDE_X, SIDE_W = 410, 350
LINE_H = 16
PAD = 8
GAP = 26


def _box(x: float, y: float, width: float, lines: list[str], bold_first: bool = True) -> tuple[str, float]:
    height = PAD * 2 + LINE_H * len(lines)
    parts = [f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="4" fill="#f7f9fb" stroke="#335"/>']
    for i, text in enumerate(lines):
        weight = ' font-weight="bold"' if bold_first and i == 0 else ""
        parts.append(
            f'<text x="{x + PAD}" y="{y + PAD + LINE_H * (i + 1) - 4}" font-size="12"{weight}>{escape(text)}</text>'
        )
    return "".join(parts), height


def _arrow(x1, y1, x2, y2) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#335" stroke-width="1.3" marker-end="url(#arrow)"/>'


def _wrap(text: str, width: int = 52) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def strobe_flow_svg(flow: pd.DataFrame, min_cell_count: int) -> str:
    """The flow diagram of a cohort flow table (exact counts in, suppressed counts out).

    Each box's counts add up to the box above, so small counts are protected with
    complementary suppression (:func:`smanh.disclosure.show_group`).
    """
    def side_lines(title: str, reasons: pd.DataFrame, excluded_shown: str) -> list[str]:
        lines = [f"{title}: {excluded_shown}"]
        for r, shown in zip(reasons.itertuples(), show_group(list(reasons["n"]), min_cell_count)):
            lines += _wrap(f"{r.reason}: {shown}")
        return lines

    parts: list[str] = []
    y = 10.0
    overall = flow[flow["endpoint"] == "all"]
    n_export = overall.loc[overall["step"] == "export", "n"].sum()
    box, h = _box(MAIN_X, y, MAIN_W, [f"Patients in the export: {show_count(n_export, min_cell_count)}"])
    parts.append(box)
    spine_top = y + h
    y += h + GAP
    invalid = overall[(overall["step"] == "excluded") & (overall["n"] > 0)]
    validated = overall.loc[overall["step"] == "validated", "n"]
    n_valid = int(validated.iloc[0]) if len(validated) else int(n_export)
    excluded_shown, valid_shown = show_group([int(invalid["n"].sum()), n_valid], min_cell_count)
    box, h = _box(SIDE_X, y, SIDE_W, side_lines("Excluded at validation", invalid, excluded_shown))
    parts += [box, _arrow(MAIN_X + MAIN_W / 2, y + LINE_H, SIDE_X, y + LINE_H)]
    y += h + GAP
    parts.append(_arrow(MAIN_X + MAIN_W / 2, spine_top, MAIN_X + MAIN_W / 2, y))
    box, h = _box(MAIN_X, y, MAIN_W, [f"Patients passing validation: {valid_shown}"])
    parts.append(box)
    y += h
    for endpoint, rows in flow[flow["endpoint"] != "all"].groupby("endpoint", sort=False):
        top = y
        y += GAP
        excluded = rows[(rows["step"] == "excluded") & (rows["n"] > 0)]
        analysed = int(rows.loc[rows["step"] == "analysed", "n"].sum())
        excluded_shown, analysed_shown = show_group([int(excluded["n"].sum()), analysed], min_cell_count)
        title = f"Excluded from {endpoint.replace('_', ' ')}"
        box, h = _box(SIDE_X, y, SIDE_W, side_lines(title, excluded, excluded_shown))
        parts += [box, _arrow(MAIN_X + MAIN_W / 2, y + LINE_H, SIDE_X, y + LINE_H)]
        y += h + GAP
        parts.append(_arrow(MAIN_X + MAIN_W / 2, top, MAIN_X + MAIN_W / 2, y))
        box, h = _box(MAIN_X, y, MAIN_W, [f"Analysed: {analysed_shown}", endpoint.replace("_", " ")])
        parts.append(box)
        y += h
    height = y + 10
    marker = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#335"/></marker></defs>'
    )
    return (
        f'<svg role="img" aria-label="STROBE flow diagram of the cohort" '
        f'width="{WIDTH}" height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'font-family="DejaVu Sans, Arial, sans-serif">{marker}{"".join(parts)}</svg>'
    )
