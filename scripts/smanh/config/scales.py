"""The motor and respiratory scales, and the model options of each configured scale
(``progression.scales``). Pure vocabulary, no pandas: the Snakefile names one job per
scale from it at every start; the export format, the progression models and the figures
take every scale fact from here."""

from __future__ import annotations

from dataclasses import dataclass

from smanh.errors import ConfigError


@dataclass(frozen=True)
class Scale:
    """A scale: valid scores ``low``–``high`` (``high`` None: unbounded); ``ceiling``
    says whether ``high`` is the scale's ceiling (its best score) or only a plausibility
    bound of the export (FVC 200 % predicted)."""

    name: str
    label: str
    low: float
    high: float | None
    ceiling: bool

    @property
    def valid_range(self) -> tuple[float, float | None]:
        return (self.low, self.high)

    @property
    def floor_and_ceiling(self) -> tuple[float, float | None]:
        """The scale's floor and ceiling (None: open-ended)."""
        return (self.low, self.high if self.ceiling else None)


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("HFMSE", "HFMSE score (0–66)", 0, 66, ceiling=True),
        Scale("RULM", "RULM score (0–37)", 0, 37, ceiling=True),
        Scale("CHOP_INTEND", "CHOP INTEND score (0–64)", 0, 64, ceiling=True),
        Scale("HINE2", "HINE-2 score (0–26)", 0, 26, ceiling=True),
        Scale("6MWT", "6-minute walk distance (m)", 0, None, ceiling=False),
        Scale("FVC_PCT", "FVC (% predicted)", 0, 200, ceiling=False),
    )
}

# Extra fixed terms of the progression models: factor term -> assessment column, and
# numeric term -> its centre.
FACTOR_TERMS = {
    "sex": "sex",
    "smn2_copies": "smn2_group",
    "sma_type": "sma_type_group",
    "site": "site",
    "birth_era": "birth_era",
}
NUMERIC_TERMS = {"birth_year": 2000.0}
# Time scales of the progression models: age, or baseline age + years since baseline (the
# longitudinal slope, per year of follow-up).
TIME_SCALES = ("age", "baseline_age_and_time")
TERMS = (*FACTOR_TERMS, *NUMERIC_TERMS)


@dataclass(frozen=True)
class ScaleOptions:
    """Model options of one scale (``progression.scales[i]`` merged over the defaults)."""

    name: str
    knots: tuple[float, ...] = ()
    terms: tuple[str, ...] = ()
    stratum_interaction: bool = False
    reml: bool = True
    threshold: float | None = None  # 12-month change threshold (None: progression.change)
    time_scales: tuple[str, ...] = TIME_SCALES
    centre: float | None = None  # centre of age / baseline age (None: the stratum's median)

    def formula(self, interaction_with: str | None = None, time_scale: str = "age") -> str:
        """The model in lme4 notation (for the tables and the report); ``age_c`` and
        ``baseline_age_c`` are centred (:attr:`centre`), ``years`` = years since baseline."""
        if time_scale == "baseline_age_and_time":
            time = "years" + "".join(f" + pmax(years - {k:g}, 0)" for k in self.knots)
            fixed = f"baseline_age_c + ({time}) * {interaction_with}" if interaction_with else (
                f"baseline_age_c + {time}")
            random = "(years | patient_id)"
        else:
            time = "age_c" + "".join(f" + pmax(age - {k:g}, 0)" for k in self.knots)
            fixed = f"({time}) * {interaction_with}" if interaction_with else time
            random = "(age_c | patient_id)"
        terms = "".join(f" + {t}" for t in self.terms)
        return f"score ~ {fixed}{terms} + {random}"


def scale_options(progression: dict) -> dict[str, ScaleOptions]:
    """Every configured scale's options: a name takes the ``progression`` defaults, a
    mapping overrides them. Raises ``ConfigError`` for unknown names or terms."""
    defaults = {
        "knots": tuple(sorted(float(k) for k in progression.get("knots", []))),
        "terms": tuple(progression.get("terms", [])),
        "stratum_interaction": bool(progression.get("stratum_interaction", False)),
        "reml": bool(progression.get("reml", True)),
        "time_scales": _time_scales(progression.get("time_scale", "both")),
        "centre": _centre(progression.get("centre", "median")),
    }
    models: dict[str, ScaleOptions] = {}
    for i, spec in enumerate(progression.get("scales", list(SCALES))):
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = spec.get("name")
        if name not in SCALES:
            raise ConfigError(
                f"config key 'progression.scales[{i}]': unknown scale {name!r} "
                f"(one of: {', '.join(SCALES)})"
            )
        if name in models:
            raise ConfigError(f"config key 'progression.scales[{i}]': scale {name} given twice")
        options = dict(defaults)
        if "knots" in spec:
            options["knots"] = tuple(sorted(float(k) for k in spec["knots"]))
        if "terms" in spec:
            options["terms"] = tuple(spec["terms"])
        for key in ("stratum_interaction", "reml"):
            if key in spec:
                options[key] = bool(spec[key])
        if "time_scale" in spec:
            options["time_scales"] = _time_scales(spec["time_scale"])
        if "centre" in spec:
            options["centre"] = _centre(spec["centre"])
        if "threshold" in spec:
            options["threshold"] = float(spec["threshold"])
        unknown = [t for t in options["terms"] if t not in TERMS]
        if unknown:
            raise ConfigError(
                f"config key 'progression.scales[{i}]': unknown term(s) {unknown} "
                f"(allowed: {', '.join(TERMS)})"
            )
        models[name] = ScaleOptions(name=name, **options)
    return models


def _time_scales(value: str) -> tuple[str, ...]:
    """``progression.time_scale``: ``both`` (default), ``age`` or ``baseline_age_and_time``."""
    if value == "both":
        return TIME_SCALES
    if value not in TIME_SCALES:
        raise ConfigError(
            f"config key 'progression.time_scale': {value!r} is not one of both, "
            + ", ".join(TIME_SCALES)
        )
    return (value,)


def _centre(value) -> float | None:
    """``progression.centre``: ``median`` (the stratum's median, None here) or an age."""
    if value is None or value == "median":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"config key 'progression.centre': {value!r} is neither 'median' nor an age in years"
        ) from None


def change_threshold(progression: dict, scale: str) -> tuple[float, str]:
    """The change threshold of ``scale`` and its source: the scale's own ``threshold`` in
    ``progression.scales``, else ``progression.change.threshold`` (one for every scale, as
    earlier configs set it), else ``progression.change.thresholds[scale]`` (the schema's
    per-scale defaults, with their sources)."""
    own = scale_options(progression)[scale].threshold
    if own is not None:
        return own, "progression.scales"
    change = progression.get("change", {})
    if change.get("threshold") is not None:
        return float(change["threshold"]), "progression.change.threshold"
    spec = change.get("thresholds", {}).get(scale)
    if spec is None:
        return 2.0, "project default for other scales"
    return float(spec["value"]), str(spec.get("source", "study configuration"))


def age_band_labels(cuts) -> list[str]:
    """Labels of the bands cut at ``cuts`` (years): ``<2``, ``2–5``, ..., ``≥18``."""
    cuts = sorted(float(c) for c in cuts)
    if not cuts:
        return []
    return ([f"<{cuts[0]:g}"] + [f"{a:g}–{b:g}" for a, b in zip(cuts[:-1], cuts[1:])]
            + [f"≥{cuts[-1]:g}"])
