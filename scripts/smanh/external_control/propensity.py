"""The propensity score of being in the trial arm, and the ATT (odds) weights.

The score is a logistic regression of arm (1 trial, 0 registry) on the baseline
covariates at time zero (R ``glm(arm ~ ..., family = binomial)``). Coding of the
covariates (:func:`propensity_design`):

- ``age_at_entry``, ``smn2_copies``, ``age_at_onset``, ``baseline_score``: numbers; where
  some are unknown, the unknown ones take the mean of the known ones and an indicator
  ``<name>_unknown`` enters too (with the indicator in the model the fitted scores do not
  depend on the value filled in);
- ``sex``: ``sex_M`` (reference F) and, where some are unknown, ``sex_unknown``.

Registry patients with a level of a binary column that no trial patient has (e.g. sex
or baseline score unknown, when every trial patient's is known) are outside the trial
population: their score is 0 (logit ``-inf``), the limit the model would reach, so they
get no weight and no match, and the model is fitted to the others (R's ``glm`` would
report the separation instead). A column constant among the patients the model is fitted
to, or a linear combination of the columns before it (and the intercept), cannot be
estimated: it is left out of the model, with the reason, and still shown in the balance
table.

ATT weights (the trial population is the target): 1 for trial patients, the odds
``e / (1 - e)`` of the score ``e`` for registry patients; optionally truncated at a
quantile of the registry patients' weights (R's default ``quantile``, type 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError
from smanh.survival.logistic import LogisticFit, fit_logistic

NUMERIC = ("age_at_entry", "smn2_copies", "age_at_onset", "baseline_score")
# rank tolerance of the greedy choice of estimable columns (relative to the largest
# singular value), as R's lm/glm pivoting tolerance (1e-7)
RANK_TOLERANCE = 1e-7


@dataclass(frozen=True)
class PropensityDesign:
    """Covariate columns at time zero, one row per patient of the cohort.

    ``matrix``/``columns``: every coded column (what balance is shown on);
    ``kinds``: ``continuous`` or ``binary`` per column; ``modelled``: the indices of the
    columns in the propensity model; ``left_out``: column -> why it is not in the model;
    ``inside``: the patients the model is fitted to (the others: registry patients with a
    level no trial patient has, score 0).
    """

    matrix: np.ndarray
    columns: list[str]
    kinds: list[str]
    modelled: list[int]
    inside: np.ndarray
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def model_matrix(self) -> np.ndarray:
        """The modelled columns of the patients inside."""
        return self.matrix[np.ix_(self.inside, self.modelled)]

    @property
    def outside(self) -> int:
        return int((~self.inside).sum())

    @property
    def model_columns(self) -> list[str]:
        return [self.columns[i] for i in self.modelled]


def propensity_design(baseline: pd.DataFrame, covariates: list[str] | tuple[str, ...]) -> PropensityDesign:
    """Code ``covariates`` of the cohort's ``baseline`` frame (column ``arm``: 1 trial,
    0 registry; see the module docstring)."""
    columns: list[np.ndarray] = []
    names: list[str] = []
    kinds: list[str] = []
    for covariate in covariates:
        if covariate == "sex":
            sex = baseline["sex"].to_numpy(object)
            for level in ("M", "unknown"):
                if level == "M" or (sex == "unknown").any():
                    columns.append((sex == level).astype(float))
                    names.append(f"sex_{level}")
                    kinds.append("binary")
            continue
        if covariate not in NUMERIC:
            raise ModelError(f"unknown propensity covariate {covariate!r} (one of: sex, {', '.join(NUMERIC)})")
        values = baseline[covariate].to_numpy(float)
        unknown = np.isnan(values)
        filled = np.where(unknown, values[~unknown].mean() if (~unknown).any() else 0.0, values)
        columns.append(filled)
        names.append(covariate)
        kinds.append("continuous")
        if unknown.any():
            columns.append(unknown.astype(float))
            names.append(f"{covariate}_unknown")
            kinds.append("binary")
    matrix = np.column_stack(columns) if columns else np.empty((len(baseline), 0))
    arm = baseline["arm"].to_numpy()
    inside = np.ones(len(arm), dtype=bool)
    for j, kind in enumerate(kinds):
        if kind == "binary":
            seen = np.unique(matrix[arm == 1, j])
            inside &= (arm == 1) | np.isin(matrix[:, j], seen)
    modelled, left_out = _estimable(matrix[inside], names)
    return PropensityDesign(matrix, names, kinds, modelled, inside, left_out)


def _estimable(matrix: np.ndarray, names: list[str]) -> tuple[list[int], dict[str, str]]:
    """Columns kept, in order, while each adds to the rank of [1, kept columns]."""
    kept: list[int] = []
    left_out: dict[str, str] = {}
    basis = np.ones((len(matrix), 1))
    for j, name in enumerate(names):
        column = matrix[:, j]
        if len(column) == 0 or np.ptp(column) == 0:
            left_out[name] = "constant among the patients it is fitted to"
            continue
        trial = np.column_stack([basis, column])
        scaled = trial / np.linalg.norm(trial, axis=0)  # each column's own scale
        singular = np.linalg.svd(scaled, compute_uv=False)
        if singular[-1] <= RANK_TOLERANCE * singular[0]:
            left_out[name] = "a linear combination of the columns before it"
            continue
        kept.append(j)
        basis = trial
    return kept, left_out


@dataclass(frozen=True)
class PropensityFit:
    """A fitted propensity model: its fit, the scores ``e`` and their logits (the linear
    predictor, R ``predict(fit, type = "link")``) for every patient of the cohort."""

    fit: LogisticFit
    score: np.ndarray
    logit: np.ndarray


def fit_propensity(design: PropensityDesign, arm: np.ndarray) -> PropensityFit:
    """Logistic regression of ``arm`` on the modelled columns (with an intercept), fitted
    to the patients inside; those outside get score 0 (logit ``-inf``).

    Raises
    ------
    ModelError
        An arm without patients, or separation (some covariate tells the arms apart
        completely: no overlap to balance on).
    """
    inside = np.asarray(arm, float)[design.inside]
    if inside.sum() == 0 or inside.sum() == len(inside):
        raise ModelError("the propensity model needs patients in both arms")
    fit = fit_logistic(design.model_matrix, inside, columns=design.model_columns)
    logit = np.full(len(arm), -np.inf)
    logit[design.inside] = linear_predictor(design, fit.coef[None, :])[:, 0]
    return PropensityFit(fit, special.expit(logit), logit)


def linear_predictor(design: PropensityDesign, coef: np.ndarray) -> np.ndarray:
    """Logits ``[1, x] @ coef`` of the patients inside for each row of ``coef`` (B, p):
    shape (inside, B)."""
    x = np.column_stack([np.ones(int(design.inside.sum())), design.model_matrix])
    return x @ np.asarray(coef).T


def att_weights(logit: np.ndarray, arm: np.ndarray, truncate_at_quantile: float | None = None) -> np.ndarray:
    """ATT weights: 1 in the trial arm, the odds ``exp(logit)`` in the registry arm,
    those above the ``truncate_at_quantile`` quantile of the registry weights set to it.

    Examples
    --------
    >>> att_weights(np.log([1.0, 0.5, 2.0, 4.0]), np.array([1, 0, 0, 0]), 0.75).tolist()
    [1.0, 0.5, 2.0, 3.0]
    """
    weights = np.where(arm == 1, 1.0, np.exp(logit))
    control = arm == 0
    if truncate_at_quantile is not None and control.any():
        cap = np.quantile(weights[control], truncate_at_quantile)
        weights = np.where(control, np.minimum(weights, cap), weights)
    return weights
