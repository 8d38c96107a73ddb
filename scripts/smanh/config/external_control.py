"""The ``external_control`` config section: an external natural-history control for a
single-arm trial (README, "External natural-history control"). Pure vocabulary, no
pandas: the Snakefile names the analysis's files from it at every start, and the config
validation checks here what the schema cannot say (a window's lower end above its upper
end, an endpoint the analysis cannot use)."""

from __future__ import annotations

from dataclasses import dataclass

from smanh.config.date_formats import ISO_DATE_FORMAT, check_date_format
from smanh.config.endpoints import Endpoint, endpoint
from smanh.errors import ConfigError

# The analysis's tables under results/tables/, in the order they are written.
EXTERNAL_CONTROL_TABLES = (
    "external_control_flow",
    "external_control_balance",
    "external_control_survival",
    "external_control_curves",
    "external_control_at_risk",
    "external_control_effects",
    "external_control_motor",
)
# Its figures besides one Kaplan-Meier figure per endpoint (external_control_km_<endpoint>).
EXTERNAL_CONTROL_FIGURES = ("external_control_love", "external_control_overlap")
# The propensity model's covariates at time zero (README); a baseline score is added when
# external_control.eligibility.baseline_score is configured.
COVARIATES = ("age_at_entry", "smn2_copies", "sex", "age_at_onset")
MONTHS_PER_YEAR = 12.0


@dataclass(frozen=True)
class ExternalControlOptions:
    """The validated ``external_control`` section (every default filled in), with ages in
    years and the endpoints resolved. Windows are inclusive ``(low, high)`` pairs."""

    trial_path: str
    trial_data_cutoff: str | None
    trial_date_format: str
    sma_types: tuple[str, ...] | None
    smn2_copies: tuple[int, ...] | None
    age_window: tuple[float, float]
    onset_window: tuple[float, float] | None
    baseline_scale: str | None
    baseline_window_years: float
    baseline_range: tuple[float, float] | None
    endpoints: tuple[Endpoint, ...]
    covariates: tuple[str, ...]
    landmark_years: tuple[float, ...]
    rmst_horizon_years: float
    at_risk_years: tuple[float, ...]
    truncate_at_quantile: float | None
    matching_ratio: int
    caliper_sd: float
    motor_scale: str | None
    motor_years_after: float
    motor_window_years: float
    motor_baseline_window_years: float
    replicates: int
    seed: int
    evalue_outcome: str
    confidence_level: float

    @property
    def endpoint_names(self) -> list[str]:
        return [e.name for e in self.endpoints]

    @property
    def tables(self) -> tuple[str, ...]:
        """The analysis's tables (names under ``results/tables/``)."""
        return EXTERNAL_CONTROL_TABLES

    @property
    def figure_names(self) -> list[str]:
        """Its figures' file stems: a Kaplan-Meier figure per endpoint, the Love plot and
        the propensity-score overlap."""
        return [*(f"external_control_km_{name}" for name in self.endpoint_names), *EXTERNAL_CONTROL_FIGURES]

    @property
    def models(self) -> tuple[str, ...]:
        """The propensity models: ``primary``, and ``without_baseline_score`` (the
        sensitivity analysis) when a baseline score is a covariate."""
        return ("primary", "without_baseline_score") if self.baseline_scale else ("primary",)


def external_control_options(config: dict) -> ExternalControlOptions | None:
    """The options of a validated config (schema defaults filled in), or None when the
    analysis is off (no ``external_control`` key). Raises ``ConfigError`` naming the key."""
    section = config.get("external_control")
    if section is None:
        return None
    key = "external_control"
    eligibility = section.get("eligibility", {})
    baseline = eligibility.get("baseline_score")
    motor = section.get("motor")
    return ExternalControlOptions(
        trial_path=str(section["trial"]["path"]),
        trial_data_cutoff=section["trial"].get("data_cutoff"),
        trial_date_format=check_date_format(section["trial"].get("date_format", ISO_DATE_FORMAT),
                                            f"{key}.trial.date_format"),
        sma_types=tuple(str(t) for t in eligibility["sma_types"]) if "sma_types" in eligibility else None,
        smn2_copies=tuple(int(c) for c in eligibility["smn2_copies"]) if "smn2_copies" in eligibility else None,
        age_window=_window(eligibility.get("age_at_time_zero_years", [0, 150]),
                           f"{key}.eligibility.age_at_time_zero_years"),
        onset_window=_window(eligibility["onset_age_years"], f"{key}.eligibility.onset_age_years")
        if "onset_age_years" in eligibility else None,
        baseline_scale=baseline["scale"] if baseline else None,
        baseline_window_years=_years(baseline.get("window_months", 1)) if baseline else 0.0,
        baseline_range=_window(baseline["range"], f"{key}.eligibility.baseline_score.range")
        if baseline and "range" in baseline else None,
        endpoints=_endpoints(section.get("endpoints", ["death_or_permanent_ventilation"]),
                             config.get("analysis", {}).get("endpoints", [])),
        covariates=tuple(section.get("covariates", COVARIATES)),
        landmark_years=tuple(_years(m) for m in section.get("landmark_ages_months", [14, 24])),
        rmst_horizon_years=_years(section.get("rmst_horizon_months", 24)),
        at_risk_years=tuple(_years(m) for m in section.get("at_risk_ages_months", [0, 6, 12, 18, 24, 30, 36])),
        truncate_at_quantile=section.get("weighting", {}).get("truncate_at_quantile"),
        matching_ratio=int(section.get("matching", {}).get("ratio", 1)),
        caliper_sd=float(section.get("matching", {}).get("caliper_sd", 0.2)),
        motor_scale=motor["scale"] if motor else None,
        motor_years_after=_years(motor.get("months_after_time_zero", 12)) if motor else 0.0,
        motor_window_years=_years(motor.get("window_months", 3)) if motor else 0.0,
        motor_baseline_window_years=_years(motor.get("baseline_window_months", 1)) if motor else 0.0,
        replicates=int(section.get("bootstrap", {}).get("replicates", 1000)),
        seed=int(section.get("bootstrap", {}).get("seed", 2017)),
        evalue_outcome=section.get("evalue_outcome", "common"),
        confidence_level=float(config.get("analysis", {}).get("confidence_level", 0.95)),
    )


def check_external_control(config: dict) -> None:
    """What the schema cannot check (called by the config validation): raises
    ``ConfigError`` naming the key."""
    external_control_options(config)


def _years(months) -> float:
    return float(months) / MONTHS_PER_YEAR


def _window(pair, key: str) -> tuple[float, float]:
    low, high = (float(v) for v in pair)
    if low > high:
        raise ConfigError(f"config key '{key}': the lower end {pair[0]} is above the upper end {pair[1]}")
    return low, high


def _endpoints(names, analysis_endpoints) -> tuple[Endpoint, ...]:
    """Each name as defined in ``analysis.endpoints`` (a mapping there) or built in; only
    endpoints on the age scale (time origin birth) without a population restriction: the
    trial and its controls are followed from time zero on the age scale."""
    defined = {}
    for spec in analysis_endpoints:
        try:
            resolved = endpoint(spec)
        except ConfigError:
            continue  # reported under analysis.endpoints
        defined[resolved.name] = resolved
    resolved_all = []
    for i, name in enumerate(names):
        key = f"config key 'external_control.endpoints[{i}]'"
        try:
            spec = defined.get(name) or endpoint(name)
        except ConfigError:
            raise ConfigError(f"{key}: unknown endpoint '{name}' (built in, or define it in "
                              "analysis.endpoints)") from None
        if spec.time_origin != "birth":
            raise ConfigError(f"{key}: endpoint '{name}' has time origin {spec.time_origin}; the "
                              "external control follows both arms on the age scale (time origin birth)")
        if spec.population is not None:
            raise ConfigError(f"{key}: endpoint '{name}' is restricted to patients with "
                              f"{spec.population}; the external control analyses endpoints of all "
                              "eligible patients")
        resolved_all.append(spec)
    return tuple(resolved_all)
