"""Exact two-level linear mixed models (REML / ML), computed as lme4 does but block-wise.

Model for patient ``i`` with ``n_i`` assessments::

    y_i = X_i beta + Z_i b_i + e_i,   b_i ~ N(0, G),   e_i ~ N(0, sigma^2 I)

with an unstructured ``q x q`` covariance ``G`` (default: random intercept and random age
slope, ``q = 2``). As in lme4 (Bates et al. 2015, J Stat Softw 67(1), section 3) the
deviance is profiled: ``beta`` and ``sigma^2`` are solved in closed form for a given relative
covariance factor ``theta`` (the lower-triangular ``Lambda`` with ``G = sigma^2 Lambda
Lambda'``, stored column-wise like ``getME(fit, "theta")``), and only ``theta`` is optimised.

Because patients are independent, ``Z'Z`` is block diagonal. The per-patient cross products
``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i`` are computed once (``O(n)``); each deviance and
analytic-gradient evaluation is then ``O(n_groups q^3)`` batched numpy with no Python loop
over patients. theta is optimised by BFGS with the analytic gradient, *without* lme4's
bounds ``diag(Lambda) >= 0`` (they create spurious stationary points, see the optimisation
section), then polished by Newton steps to a gradient of ~1e-14 and mapped to lme4's sign
convention. Singular solutions are re-optimised from a few restarts (the profiled deviance
can have a boundary local minimum besides the global one; lme4 can stop there).

Boundary fits (a variance component estimated as zero, singular ``G``) are flagged with
``singular_`` (lme4's ``isSingular``, tolerance 1e-4 on ``theta``); their fixed effects,
standard errors and log-likelihood are still the exact maximisers. No fallback model is fitted
automatically. The documented fallback when ``singular_`` is true is for the *caller* to refit a
simpler random-effects structure (e.g. ``random=[]``, random intercept only) and to report
that it did so; the message in ``messages_`` says which component collapsed.

Small-sample inference: Satterthwaite degrees of freedom for every fixed effect and any
linear contrast ``L'beta`` exactly as lmerTest 3.1 computes them (``summary(fit)``,
``contest(fit, L)``; REML and ML), from the variance parameters ``(theta, sigma)``, the
analytic derivatives of ``vcov(beta)`` and the Hessian of the deviance (central differences
of the analytic gradient; see the Satterthwaite section). ``LMMFit.summary(ddf=
"satterthwaite")``, ``conf_int(ddf="satterthwaite")`` and ``contrast(L)`` give t statistics,
p-values and t intervals; the Wald (normal) versions stay the defaults of ``summary`` and
``conf_int``.

Models that are not identifiable are refused with :class:`smanh.errors.ModelError` before any
fitting: non-finite values or missing groups; fewer than 2 groups; ``n_obs <= p + q(q+1)/2``;
a response of zero variance; a rank-deficient fixed-effects design; random slopes when every
group has fewer than ``q`` observations (e.g. one assessment per patient) or no group's
``Z_i`` has full column rank (age constant within every patient); and, as lme4's
``check.nobs.vs.nRE``, ``n_obs <= n_groups * q``. Fewer than 5 groups only add a warning to
``messages_`` (lme4's ``check.nlev.gtreq.5``).

Example
-------
>>> import numpy as np, pandas as pd
>>> from smanh.progression.lmm import fit_lmm
>>> rng = np.random.default_rng(1)
>>> pid = np.repeat(np.arange(200), 6)
>>> age = np.tile(np.arange(6.0), 200) + rng.uniform(2, 10, 200).repeat(6)
>>> b0, b1 = rng.normal(0, 5, 200), rng.normal(0, 0.5, 200)
>>> score = 40 + b0[pid] + (-1 + b1[pid]) * age + rng.normal(0, 2, pid.size)
>>> data = pd.DataFrame({"patient_id": pid, "age": age, "score": score})
>>> fit = fit_lmm(data, "score", ["age"], ["age"], "patient_id")
>>> round(float(fit.params_["age"]), 1)
-1.0
>>> fit.summary(ddf="satterthwaite").columns.tolist()
['estimate', 'se', 'df', 't', 'p', 'lower', 'upper']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special  # not scipy.stats: its import alone takes 0.4 s

from smanh.errors import ModelError

__all__ = ["LMMFit", "fit_lmm", "fit_lmm_arrays", "SINGULAR_TOL"]

#: lme4's ``isSingular`` tolerance on the diagonal of the relative covariance factor.
SINGULAR_TOL = 1e-4
_LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------- result


@dataclass
class LMMFit:
    """A fitted linear mixed model (lifelines-style trailing-underscore attributes).

    Attributes
    ----------
    params_ : pandas.Series
        Fixed-effect estimates, indexed by design column name.
    cov_params_ : pandas.DataFrame
        Covariance of the fixed effects, ``sigma^2 (X' V^-1 X)^-1`` (lme4's ``vcov``).
    bse_ : pandas.Series
        Standard errors, square roots of the diagonal of ``cov_params_``.
    cov_re_ : pandas.DataFrame
        Random-effects covariance ``G`` (variances on the diagonal).
    corr_re_ : pandas.DataFrame
        Random-effects correlation matrix (NaN where a variance is zero).
    sigma2_ : float
        Residual variance.
    loglik_ : float
        REML criterion / ML log-likelihood as lme4's ``logLik`` reports it.
    theta_ : numpy.ndarray
        Relative covariance factor, column-wise lower triangle (lme4's ``getME(, "theta")``).
    reml : bool
        True for REML, False for ML.
    n_obs, n_groups : int
        Numbers of observations and of groups (patients).
    n_iter_, n_fev_ : int
        Optimiser iterations and deviance evaluations.
    converged_ : bool
        Max |gradient of deviance / n| below 1e-6 at the returned theta (after the
        Newton polish it is typically ~1e-14).
    singular_ : bool
        Boundary fit: a diagonal element of ``theta`` below ``SINGULAR_TOL`` (lme4's
        ``isSingular``).
    messages_ : list of str
        Optimiser and diagnostic messages (warnings about the fit).
    random_effects_ : pandas.DataFrame
        Conditional modes (BLUPs) of the random effects, one row per group.
    vcov_varpar_ : pandas.DataFrame or None
        Asymptotic covariance of the variance parameters ``(theta1, ..., thetak, sigma)``:
        twice the inverse Hessian of the deviance in that parameterisation (lmerTest's
        ``vcov_varpar``). None when fitted with ``satterthwaite=False``.
    jac_cov_params_ : numpy.ndarray or None
        ``(k + 1, p, p)``: derivative of ``cov_params_`` with respect to each variance
        parameter, in the order of ``vcov_varpar_`` (lmerTest's ``Jac_list``).

    Examples
    --------
    >>> fit.conf_int().loc["age"]          # doctest: +SKIP
    lower   -1.09
    upper   -0.91
    >>> fit.summary(ddf="satterthwaite").loc["age", ["df", "p"]]  # doctest: +SKIP
    >>> fit.contrast({"age": 1, "age_after_5": 1})                # doctest: +SKIP
    """

    params_: pd.Series
    cov_params_: pd.DataFrame
    cov_re_: pd.DataFrame
    sigma2_: float
    loglik_: float
    theta_: np.ndarray
    reml: bool
    n_obs: int
    n_groups: int
    n_iter_: int
    n_fev_: int
    converged_: bool
    singular_: bool
    messages_: list[str] = field(default_factory=list)
    random_effects_: pd.DataFrame | None = None
    vcov_varpar_: pd.DataFrame | None = None
    jac_cov_params_: np.ndarray | None = None

    @property
    def bse_(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.cov_params_)), index=self.params_.index)

    @property
    def corr_re_(self) -> pd.DataFrame:
        """Correlation matrix of the random effects (NaN for a zero variance)."""
        sd = np.sqrt(np.diag(self.cov_re_.to_numpy()))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = self.cov_re_.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(corr, index=self.cov_re_.index, columns=self.cov_re_.columns)

    @property
    def deviance_(self) -> float:
        """``-2 loglik_`` (lme4's REML criterion for REML fits)."""
        return -2.0 * self.loglik_

    def conf_int(self, confidence_level: float = 0.95, ddf: str = "wald") -> pd.DataFrame:
        """Confidence intervals of the fixed effects.

        ``ddf="wald"`` (default): normal quantiles (lme4 ``confint(method="Wald")``);
        ``ddf="satterthwaite"``: t quantiles with Satterthwaite degrees of freedom
        (lmerTest ``contest1D(fit, L, confint = TRUE)`` per coefficient).

        Examples
        --------
        >>> fit.conf_int(0.9).columns.tolist()  # doctest: +SKIP
        ['lower', 'upper']
        """
        table = self.summary(ddf=ddf, confidence_level=confidence_level)
        return table[["lower", "upper"]]

    @property
    def df_satterthwaite_(self) -> pd.Series:
        """Satterthwaite degrees of freedom of every fixed effect (lmerTest's ``df``)."""
        return pd.Series(
            self.satterthwaite_df(np.eye(self.params_.size)), index=self.params_.index
        )

    def satterthwaite_df(self, contrast) -> float | np.ndarray:
        """Satterthwaite degrees of freedom of ``L'beta`` (lmerTest 3.1 ``contest1D``).

        ``df = 2 (L'CL)^2 / (g' A g)`` with ``C = cov_params_``, ``g_j = L' (dC/dvarpar_j) L``
        and ``A = vcov_varpar_``.

        Parameters
        ----------
        contrast : mapping, Series or array
            Weights ``L`` by coefficient name (missing names weigh 0) or a length-p vector;
            a ``(m, p)`` array gives m contrasts at once.

        Returns
        -------
        float, or array (m,) for a 2-D ``contrast``. ``inf`` when the variance of
        ``L'beta`` does not depend on the variance parameters within the retained
        directions of ``vcov_varpar_``.
        """
        weights = self._contrast_matrix(contrast)
        if self.vcov_varpar_ is None or self.jac_cov_params_ is None:
            raise ModelError(
                "this fit was made with satterthwaite=False: refit with satterthwaite=True "
                "for Satterthwaite degrees of freedom"
            )
        cov = self.cov_params_.to_numpy()
        var = np.einsum("mi,ij,mj->m", weights, cov, weights)
        grad = np.einsum("mi,kij,mj->mk", weights, self.jac_cov_params_, weights)
        denom = np.einsum("mk,kl,ml->m", grad, self.vcov_varpar_.to_numpy(), grad)
        with np.errstate(divide="ignore"):
            df = 2.0 * var**2 / denom
        return float(df[0]) if np.ndim(contrast) == 1 or _is_mapping(contrast) else df

    def contrast(
        self, contrast, confidence_level: float = 0.95, *, ddf: str = "satterthwaite", rhs: float = 0.0
    ) -> pd.Series:
        """Estimate and test one linear contrast ``L'beta`` (lmerTest's ``contest1D`` with
        ``confint = TRUE``), e.g. the age slope after a knot, ``{"age": 1, "age_after_5": 1}``.

        Parameters
        ----------
        contrast : mapping, Series or array (p,)
            Weights by coefficient name (missing names weigh 0) or a length-p vector.
        confidence_level : float, default 0.95
            Confidence level of ``lower``/``upper``.
        ddf : {"satterthwaite", "wald"}
            t distribution with Satterthwaite df, or the normal distribution (``df = inf``).
        rhs : float, default 0
            Value under the null hypothesis (the interval does not depend on it).

        Returns
        -------
        pandas.Series
            ``estimate, se, df, t, p, lower, upper`` (``p`` two-sided).
        """
        if np.ndim(contrast) > 1:
            raise ModelError("contrast(): one contrast at a time (a mapping or a length-p vector)")
        weights = self._contrast_matrix(contrast)[0]
        estimate = float(weights @ self.params_.to_numpy())
        se = float(np.sqrt(weights @ self.cov_params_.to_numpy() @ weights))
        df = self.satterthwaite_df(weights) if _ddf_method(ddf) == "satterthwaite" else np.inf
        t = (estimate - rhs) / se if se > 0 else np.nan
        # stdtr/stdtrit are the normal distribution at df = inf (Wald)
        half = float(special.stdtrit(df, 0.5 + confidence_level / 2.0)) * se
        return pd.Series({
            "estimate": estimate, "se": se, "df": df, "t": t,
            "p": 2.0 * float(special.stdtr(df, -abs(t))) if np.isfinite(t) else np.nan,
            "lower": estimate - half, "upper": estimate + half,
        })

    def summary(self, ddf: str = "wald", confidence_level: float = 0.95) -> pd.DataFrame:
        """Fixed-effects table.

        ``ddf="wald"`` (default): ``estimate, se, z, lower, upper`` (normal, as before);
        ``ddf="satterthwaite"``: ``estimate, se, df, t, p, lower, upper`` — lmerTest's
        ``summary(fit)$coefficients`` with t intervals.
        """
        if _ddf_method(ddf) == "wald":
            z = special.ndtri(0.5 + confidence_level / 2.0)
            half = z * self.bse_
            return pd.DataFrame({
                "estimate": self.params_, "se": self.bse_, "z": self.params_ / self.bse_,
                "lower": self.params_ - half, "upper": self.params_ + half,
            })
        rows = [self.contrast(row, confidence_level) for row in np.eye(self.params_.size)]
        return pd.DataFrame(rows, index=self.params_.index)

    def _contrast_matrix(self, contrast) -> np.ndarray:
        """Contrast weights as an ``(m, p)`` array, checked against the coefficients."""
        names = self.params_.index
        if _is_mapping(contrast):
            weights = pd.Series(contrast, dtype=float)
            unknown = [k for k in weights.index if k not in names]
            if unknown:
                raise ModelError(
                    f"contrast names {unknown} are not coefficients of the model "
                    f"({list(names)})"
                )
            return weights.reindex(names, fill_value=0.0).to_numpy()[None, :]
        weights = np.atleast_2d(np.asarray(contrast, dtype=float))
        if weights.ndim != 2 or weights.shape[1] != names.size or not np.isfinite(weights).all():
            raise ModelError(
                f"contrast of shape {np.shape(contrast)} does not match the {names.size} "
                f"coefficients {list(names)} (or is not finite)"
            )
        return weights


def _is_mapping(value) -> bool:
    return isinstance(value, (dict, pd.Series))


def _ddf_method(ddf: str) -> str:
    method = str(ddf).lower()
    if method not in ("wald", "satterthwaite"):
        raise ModelError(f"ddf={ddf!r}: use 'satterthwaite' (t) or 'wald' (normal)")
    return method


# --------------------------------------------------------------------------- cross products


@dataclass
class _CrossProducts:
    """Sufficient statistics of the model, computed once per fit.

    Per-group arrays keep the group axis *last*, ``(rows, cols, G)``: products with a
    constant small matrix are then single BLAS calls and per-group q x q algebra is a handful
    of element-wise operations on contiguous length-G vectors.
    """

    ztz: np.ndarray  # (q, q, G)   Z_i'Z_i
    ztxy: np.ndarray  # (q, p+1, G) Z_i'[X_i y_i]
    xyxy: np.ndarray  # (p+1, p+1)  [X y]'[X y]
    beta_ols: np.ndarray  # y was replaced by its OLS residuals; add this back to beta
    n: int
    p: int
    q: int


def _cross_products(y, x, z, codes, n_groups) -> _CrossProducts:
    """Per-group cross products by ``bincount`` (one pass per column pair, no sort).

    ``y`` is replaced by its OLS residuals first: the profiled deviance does not change
    (beta absorbs the shift) but ``r^2 = y'y - ...`` no longer cancels catastrophically.
    """
    beta_ols = np.linalg.lstsq(x, y, rcond=None)[0]
    xy = np.column_stack([x, y - x @ beta_ols])
    q, m = z.shape[1], xy.shape[1]
    zall = np.column_stack([z, xy])
    sums = np.empty((q, q + m, n_groups))
    for j in range(q):
        for k in range(j, q + m):
            sums[j, k] = np.bincount(codes, weights=z[:, j] * zall[:, k], minlength=n_groups)
    for j in range(q):  # Z_i'Z_i is symmetric: fill the lower triangle
        sums[j + 1 :, j] = sums[j, j + 1 : q]
    return _CrossProducts(
        ztz=np.ascontiguousarray(sums[:, :q]),
        ztxy=np.ascontiguousarray(sums[:, q:]),
        xyxy=xy.T @ xy,
        beta_ols=beta_ols,
        n=len(y),
        p=x.shape[1],
        q=q,
    )


# --------------------------------------------------------------------------- batched algebra
# Stacks of small matrices with the group axis last: a[i, j, g] is entry (i, j) of group g.


def _lmul(k: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``K @ A_g`` for every group: q^2 axpy's on contiguous slabs (BLAS is slower here)."""
    out = np.zeros((k.shape[0], *a.shape[1:]))
    for d in range(k.shape[0]):
        for r in range(k.shape[1]):
            if k[d, r] != 0.0:  # Lambda is triangular
                out[d] += k[d, r] * a[r]
    return out


def _rmul(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``A_g @ K`` for every group."""
    out = np.zeros((a.shape[0], k.shape[1], a.shape[2]))
    for c in range(k.shape[0]):
        for d in range(k.shape[1]):
            if k[c, d] != 0.0:
                out[:, d] += k[c, d] * a[:, c]
    return out


def _batched_cholesky(m: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of SPD stacks ``(q, q, G)``; Python loops over q only."""
    q = m.shape[0]
    low = np.zeros_like(m)
    for j in range(q):
        d = m[j, j] - np.einsum("kg,kg->g", low[j, :j], low[j, :j])
        low[j, j] = np.sqrt(d)
        for i in range(j + 1, q):
            low[i, j] = (m[i, j] - np.einsum("kg,kg->g", low[i, :j], low[j, :j])) / low[j, j]
    return low


def _batched_forward(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L_g X_g = B_g`` for lower-triangular stacks ``low (q,q,G)``, ``rhs (q,m,G)``."""
    x = np.empty_like(rhs)
    for i in range(low.shape[0]):
        acc = rhs[i].copy()
        for k in range(i):
            acc -= low[i, k] * x[k]
        x[i] = acc / low[i, i]
    return x


def _batched_backward(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L_g' x_g = b_g`` for lower-triangular ``low (q,q,G)`` and vectors ``(q,G)``."""
    q = low.shape[0]
    x = np.empty_like(rhs)
    for i in reversed(range(q)):
        acc = rhs[i].copy()
        for k in range(i + 1, q):
            acc -= low[k, i] * x[k]
        x[i] = acc / low[i, i]
    return x


# --------------------------------------------------------------------------- profiled deviance


def _tril_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the lower triangle in lme4's column-major theta order."""
    cols, rows = np.triu_indices(q)  # (col, row) pairs with row >= col, column-major
    return rows, cols


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    rows, cols = _tril_index(q)
    lam = np.zeros((q, q))
    lam[rows, cols] = theta
    return lam


@dataclass
class _GradientTerms:
    """Per-group pieces of the analytic gradient, kept for the Satterthwaite derivatives."""

    pmat: np.ndarray  # (q, q, G) P_i = L_i^-1 Lambda' Z_i'Z_i
    c: np.ndarray  # (q, p+1, G) [RZX_i | cu_i]
    aa: np.ndarray  # (q, q) sum_i a_i a_i', a_i = Z_i'V_i^-1 e_i
    zt_vinv_x: np.ndarray | None  # (q, p, G) B_i = Z_i'V_i^-1 X_i (REML only)


@dataclass
class _Profile:
    """Everything the profiled deviance determines at one theta."""

    deviance: float
    gradient: np.ndarray | None
    beta: np.ndarray  # of the OLS-residual response (add cp.beta_ols)
    r2: float  # penalised residual sum of squares
    a_inv: np.ndarray | None  # (X' V^-1 X)^-1, V relative to sigma^2
    u: np.ndarray | None  # (q, G) spherical conditional modes
    lam: np.ndarray
    terms: _GradientTerms | None = None  # per-group pieces of the gradient, when computed


def _profile(theta: np.ndarray, cp: _CrossProducts, reml: bool, gradient: bool) -> _Profile:
    """Profiled deviance (and its analytic gradient) at ``theta``.

    Follows lme4's PLS: ``L_i L_i' = Lambda' Z_i'Z_i Lambda + I``, ``[RZX_i cu_i] =
    L_i^-1 Lambda' Z_i'[X_i y_i]``; the Cholesky factor of the Schur complement
    ``[X y]'[X y] - sum_i [RZX_i cu_i]'[RZX_i cu_i]`` holds ``RX`` and ``r = sqrt(pwrss)``.
    """
    n, p, q = cp.n, cp.p, cp.q
    lam = _lambda(theta, q)
    lt_s = _lmul(lam.T, cp.ztz)  # Lambda' Z_i'Z_i
    m = _rmul(lt_s, lam)
    m[np.arange(q), np.arange(q)] += 1.0
    low = _batched_cholesky(m)
    c = _batched_forward(low, _lmul(lam.T, cp.ztxy))  # (q, p+1, G) = [RZX_i | cu_i]
    schur = cp.xyxy - sum(c[k] @ c[k].T for k in range(q))
    try:
        r_full = np.linalg.cholesky(schur)
    except np.linalg.LinAlgError:
        return _Profile(np.inf, None, np.full(p, np.nan), np.nan, None, None, lam)
    rx = r_full[:p, :p]
    r2 = r_full[p, p] ** 2
    beta = np.linalg.solve(rx.T, r_full[p, :p])
    logdet_l = 2.0 * np.log(low[np.arange(q), np.arange(q)]).sum()
    df = n - p if reml else n
    dev = logdet_l + df * (1.0 + _LOG_2PI + np.log(r2 / df))
    if reml:
        dev += 2.0 * np.log(np.diag(rx)).sum()
    a_inv = np.linalg.inv(rx @ rx.T)
    u = c[:, p] - np.tensordot(beta, c[:, :p], axes=(0, 1))  # L_i^-1 Lambda' Z_i' e_i
    grad, terms = (
        _gradient(cp, lam, low, lt_s, c, u, beta, r2, df, a_inv, reml) if gradient else (None, None)
    )
    return _Profile(dev, grad, beta, r2, a_inv, _batched_backward(low, u), lam, terms)


def _gradient(cp, lam, low, lt_s, c, u, beta, r2, df, a_inv, reml):
    """Analytic gradient of the profiled deviance with respect to theta (and its pieces).

    With ``D = Lambda Lambda'`` and ``V_i = I + Z_i D Z_i'``, the deviance derivative is
    ``tr(H dD)`` with ``H = sum_i Z_i'V_i^-1 Z_i - (df/r^2) sum_i a_i a_i'
    [- sum_i B_i A^-1 B_i' for REML]``, ``a_i = Z_i'V_i^-1 e_i``, ``B_i = Z_i'V_i^-1 X_i``,
    ``A = X'V^-1 X`` (envelope theorem for beta and sigma^2). Then ``d/dLambda = 2 H Lambda``.
    Woodbury gives everything from the q x q blocks: ``Z_i'V_i^-1 = Z_i' - P_i' L_i^-1
    Lambda' Z_i'`` with ``P_i = L_i^-1 Lambda' Z_i'Z_i``.
    """
    p, q = cp.p, cp.q
    pmat = _batched_forward(low, lt_s)  # (q, q, G), P[k, i]
    zte = cp.ztxy[:, p] - np.tensordot(beta, cp.ztxy[:, :p], axes=(0, 1))  # Z_i' e_i
    a = zte - np.einsum("kig,kg->ig", pmat, u)
    aa = a @ a.T
    h = cp.ztz.sum(axis=-1) - sum(pmat[k] @ pmat[k].T for k in range(q))
    h -= (df / r2) * aa
    b = None
    if reml:
        b = _zt_vinv_x(cp, pmat, c)
        h -= _rmul(b, a_inv).reshape(q, -1) @ b.reshape(q, -1).T
    rows, cols = _tril_index(q)
    return (2.0 * h @ lam)[rows, cols], _GradientTerms(pmat, c, aa, b)


def _zt_vinv_x(cp: _CrossProducts, pmat: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``B_i = Z_i'V_i^-1 X_i = Z_i'X_i - P_i' RZX_i`` for every group, ``(q, p, G)``."""
    b = cp.ztxy[:, : cp.p].copy()
    for k in range(cp.q):
        b -= pmat[k][:, None, :] * c[k, : cp.p][None, :, :]
    return b


# --------------------------------------------------------------------------- optimisation
# theta is optimised *without* bounds. lme4 bounds diag(Lambda) >= 0, but only
# Lambda Lambda' matters: a column and its negative give the same G. With bounds, a
# gradient method that lands on Lambda_jj = 0 is stuck there even when that is a saddle
# (for the last column the deviance is even in Lambda_qq, so its slope there is exactly 0),
# and it stopped at boundary points 0.02-30 deviance units above the optimum in tests.
# Unbounded, the boundary of the covariance cone is an ordinary interior point of theta
# space; the result is mapped back to lme4's sign convention (diag >= 0) at the end.


def _optimize(cp: _CrossProducts, reml: bool, theta0: np.ndarray):
    """Minimise the profiled deviance / n over theta with (unbounded) BFGS.

    Moderate tolerances: the Newton polish that follows supplies the last digits.
    """
    scale = 1.0 / cp.n  # an O(1) objective makes the gradient tolerance size-independent

    def fun(theta):
        prof = _profile(theta, cp, reml, gradient=True)
        if not np.isfinite(prof.deviance):
            return 1e300, np.zeros_like(theta)
        return prof.deviance * scale, prof.gradient * scale

    # BFGS, not L-BFGS-B: no bounds are needed, and scipy's L-BFGS-B calls multithreaded
    # OpenBLAS on its tiny matrices, which took 4 ms per iteration on a loaded machine.
    return optimize.minimize(
        fun, theta0, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-9}
    )


def _canonical(theta: np.ndarray, q: int) -> np.ndarray:
    """lme4's sign convention: flip every column of Lambda whose diagonal is negative."""
    rows, cols = _tril_index(q)
    lam = _lambda(theta, q)
    lam *= np.where(np.diag(lam) < 0.0, -1.0, 1.0)[None, :]
    return lam[rows, cols]


def _restart_points(theta: np.ndarray, q: int) -> list[np.ndarray]:
    """Starts for re-optimising a singular solution.

    The profiled deviance can have a second local minimum (seen in simulations: a boundary
    minimum and an interior one with a different correlation sign), so a singular fit is
    re-optimised from its collapsed components reopened, with the correlations flipped,
    and from scaled identities; the lowest deviance wins.
    """
    rows, cols = _tril_index(q)
    diag = rows == cols
    lam = _lambda(theta, q)
    size = max(float(np.abs(theta).max()), 1e-2)
    starts = []
    for flip in (1.0, -1.0):
        reopened = lam.copy()
        reopened[~np.eye(q, dtype=bool)] *= flip
        small = np.abs(np.diag(reopened)) < SINGULAR_TOL
        reopened[np.diag_indices(q)] = np.where(small, 0.3 * size, np.diag(reopened))
        starts.append(reopened[rows, cols])
    starts += [diag * 0.1, diag * 1.0, diag * 10.0]
    return starts


def _fit_theta(cp: _CrossProducts, reml: bool, theta0: np.ndarray):
    """BFGS from ``theta0``; for a singular solution, the best of a few restarts."""
    res = _optimize(cp, reml, theta0)
    rows, cols = _tril_index(cp.q)
    if np.all(np.abs(res.x[rows == cols]) >= SINGULAR_TOL):
        return res
    best = res
    for start in _restart_points(res.x, cp.q):
        trial = _optimize(cp, reml, start)
        trial.nit, trial.nfev = trial.nit + best.nit, trial.nfev + best.nfev
        if trial.fun < best.fun - 1e-12 * abs(best.fun):
            best = trial
        else:
            best.nit, best.nfev = trial.nit, trial.nfev
    return best


def _hessian(theta, cp, reml) -> np.ndarray:
    """Central-difference Hessian of deviance / n from the analytic gradient."""
    hess = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        diff = _profile(up, cp, reml, True).gradient - _profile(down, cp, reml, True).gradient
        hess[j] = diff / (2.0 * h * cp.n)
    return 0.5 * (hess + hess.T)


def _newton_polish(theta, cp, reml, max_steps: int = 6) -> tuple[np.ndarray, bool, int]:
    """Newton steps to the stationary point, and a Hessian check.

    BFGS stops when its line search meets rounding noise; Newton steps with the analytic
    gradient and one finite-difference Hessian bring the gradient to ~1e-14, and the
    Hessian doubles as lme4's ``check.conv.hess`` (positive semi-definite at a minimum).
    Returns theta, Hessian OK, and the number of deviance evaluations used.
    """
    hess = _hessian(theta, cp, reml)
    evals = 2 * theta.size + 1
    eig = np.linalg.eigvalsh(hess)
    hess_ok = bool(eig.min() > -1e-6 * max(1.0, abs(eig).max()))
    prof = _profile(theta, cp, reml, True)
    for _ in range(max_steps):
        grad = prof.gradient / cp.n
        if np.max(np.abs(grad)) < 1e-13 or eig.min() <= 0.0:
            break
        trial = theta - np.linalg.solve(hess, grad)
        new = _profile(trial, cp, reml, True)
        evals += 1
        if not new.deviance <= prof.deviance + 1e-13 * abs(prof.deviance):
            break
        theta, prof = trial, new
    return theta, hess_ok, evals


# --------------------------------------------------------------------------- Satterthwaite
# lmerTest 3.1 (Kuznetsova et al. 2017, J Stat Softw 82(13), section 3.2): variance
# parameters varpar = (theta, sigma); the Satterthwaite df of a contrast L'beta is
# 2 (L'CL)^2 / (g'Ag), C = vcov(beta)(varpar), g = d(L'CL)/d varpar, A = 2 H^-1 with H the
# Hessian of the deviance *not* profiled over sigma, D(theta, sigma) = f(theta) +
# r2(theta) / sigma^2 + df log(2 pi sigma^2) (lmerTest's ``devfun_vp``; f = log|L|^2 [+
# log|RX|^2 for REML], df = n [- p for REML]). lmerTest differentiates numerically (numDeriv,
# Richardson); here C's derivatives are analytic and H comes from the analytic gradient.

#: lmerTest's tolerance on the eigenvalues of H: only those above it are inverted.
_VARPAR_EIGEN_TOL = 1e-8


def _varpar_hessian(theta: np.ndarray, cp: _CrossProducts, reml: bool, prof: _Profile):
    """Hessian of lmerTest's deviance ``D(theta, sigma)`` at the optimum ``theta``.

    At sigma^2 = r2/df the profiled deviance d(theta) = min_sigma D is the Schur complement
    of the sigma block, so only d's Hessian needs numerical differentiation (central
    differences of the analytic gradient); the sigma rows follow from r2 and its analytic
    gradient ``dr2/dD = -sum_i a_i a_i'``::

        D_ss = 4 df / sigma^2,   D_ts = -2 dr2 / sigma^3,
        D_tt = d'' + dr2 dr2' / (df sigma^4).
    """
    df = cp.n - cp.p if reml else cp.n
    sigma2 = prof.r2 / df
    rows, cols = _tril_index(cp.q)
    dr2 = (-2.0 * prof.terms.aa @ prof.lam)[rows, cols]
    k = theta.size
    hess = np.empty((k + 1, k + 1))
    hess[:k, :k] = _hessian(theta, cp, reml) * cp.n + np.outer(dr2, dr2) / (df * sigma2**2)
    hess[:k, k] = hess[k, :k] = -2.0 * dr2 / sigma2**1.5
    hess[k, k] = 4.0 * df / sigma2
    return hess


def _cov_params_jacobian(cp: _CrossProducts, prof: _Profile, sigma2: float) -> np.ndarray:
    """Analytic derivatives of ``vcov(beta) = sigma^2 A^-1`` (``A = X'V^-1 X``, V relative)
    with respect to theta and sigma, ``(k + 1, p, p)``: lmerTest's ``Jac_list``.

    ``dA/dtheta_j = -sum_i B_i' dD_j B_i`` with ``dD_j = E_j Lambda' + Lambda E_j'`` (E_j: the
    unit matrix at theta_j's position), so with ``K_i = Lambda' B_i`` the sum is
    ``S + S'``, ``S = sum_i B_i[r]' K_i[c]``; ``d vcov / d sigma = 2 sigma A^-1``.
    """
    t = prof.terms
    b = t.zt_vinv_x if t.zt_vinv_x is not None else _zt_vinv_x(cp, t.pmat, t.c)
    k_mat = _lmul(prof.lam.T, b)
    rows, cols = _tril_index(cp.q)
    jac = np.empty((rows.size + 1, cp.p, cp.p))
    for j, (r, c) in enumerate(zip(rows, cols)):
        s = b[r] @ k_mat[c].T  # (p, p), sum over groups
        jac[j] = sigma2 * prof.a_inv @ (s + s.T) @ prof.a_inv
    jac[-1] = 2.0 * np.sqrt(sigma2) * prof.a_inv
    return jac


def _satterthwaite_terms(theta: np.ndarray, cp: _CrossProducts, reml: bool, prof: _Profile):
    """``vcov_varpar`` (2 H^-1, pseudo-inverse over eigenvalues > 1e-8 as lmerTest),
    ``Jac_list`` and messages about the Hessian, at the optimum."""
    df = cp.n - cp.p if reml else cp.n
    sigma2 = prof.r2 / df
    hess = _varpar_hessian(theta, cp, reml, prof)
    values, vectors = np.linalg.eigh(hess)
    keep = values > _VARPAR_EIGEN_TOL
    vcov_varpar = 2.0 * (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    messages = []
    if not keep.all():
        dropped = ", ".join(f"{v:.1e}" for v in values[~keep])
        messages.append(
            f"WARNING: the Hessian of the deviance in (theta, sigma) has eigenvalue(s) {dropped} "
            "at or below 1e-8 (left out of its inverse, as lmerTest does): Satterthwaite degrees "
            "of freedom are unreliable"
        )
    return vcov_varpar, _cov_params_jacobian(cp, prof, sigma2), messages


# --------------------------------------------------------------------------- validation


def _check_inputs(y, x, z, codes, n_groups, fe_names, re_names) -> list[str]:
    """Refuse non-identifiable models with a ModelError; return warnings for the fit."""
    n, p = x.shape
    q = z.shape[1]
    for name, arr in (("response", y), ("fixed-effects design", x), ("random-effects design", z)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(n, -1).any(axis=1))
            raise ModelError(
                f"{name} has {rows.size} non-finite value(s) (NaN/inf), first at row "
                f"{rows[0]}; drop or impute them before fitting"
            )
    if (codes < 0).any():
        raise ModelError(f"group has {(codes < 0).sum()} missing value(s); every row needs a group")
    if n_groups < 2:
        raise ModelError(
            f"only {n_groups} group(s): a random-effects variance needs at least 2 groups"
        )
    n_cov = q * (q + 1) // 2
    if n <= p + n_cov:
        raise ModelError(
            f"{n} observations for {p} fixed effects and {n_cov} covariance parameters "
            f"(+ residual variance): the model is not identifiable"
        )
    if np.ptp(y) == 0:
        raise ModelError(f"response has zero variance (all values equal {y[0]:g})")
    rank = np.linalg.matrix_rank(x)
    if rank < p:
        raise ModelError(
            f"fixed-effects design {list(fe_names)} is rank deficient (rank {rank} < {p} "
            "columns): a column is constant or a combination of others"
        )
    counts = np.bincount(codes, minlength=n_groups)
    if q > 1 and counts.max() < q:
        raise ModelError(
            f"every group has fewer than {q} observations (at most {counts.max()}): random "
            f"effects {list(re_names)} are not identifiable; a random slope needs patients "
            "with repeated assessments (use random intercept only)"
        )
    if n <= n_groups * q:
        raise ModelError(
            f"{n} observations <= {n_groups} groups x {q} random effects: the random-effects "
            "variances and the residual variance are not separable (lme4 refuses this too); "
            "use fewer random effects (e.g. random intercept only)"
        )
    return (
        [f"only {n_groups} groups: variance components are poorly estimated"]
        if n_groups < 5
        else []
    )


def _check_random_design(ztz: np.ndarray, re_names) -> None:
    """Refuse when no group's Z_i has full column rank (e.g. age constant within patients)."""
    if ztz.shape[0] == 1:
        return
    gram = np.moveaxis(ztz, -1, 0)  # (G, q, q) Z_i'Z_i
    scale = np.prod(np.diagonal(gram, axis1=1, axis2=2), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_det = np.linalg.det(gram) / scale
    if not np.any(rel_det > 1e-10):
        raise ModelError(
            f"no group varies in all random-effect columns {list(re_names)} (e.g. age constant "
            "within every patient): the random slope is not identifiable"
        )


# --------------------------------------------------------------------------- public API


def fit_lmm_arrays(
    y: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
    groups: Sequence | np.ndarray,
    *,
    reml: bool = True,
    fe_names: Sequence[str] | None = None,
    re_names: Sequence[str] | None = None,
    theta0: np.ndarray | None = None,
    satterthwaite: bool = True,
) -> LMMFit:
    """Fit ``y = X beta + Z b + e`` with ``b_i ~ N(0, G)`` per group, by REML or ML.

    Parameters
    ----------
    y : array (n,)
        Response.
    x : array (n, p)
        Fixed-effects design (include an intercept column yourself).
    z : array (n, q)
        Random-effects design, one row per observation (e.g. ``[1, age]``).
    groups : array-like (n,)
        Group label of every observation (any hashable values; need not be sorted).
    reml : bool, default True
        REML (lme4's default) or ML.
    fe_names, re_names : sequences of str, optional
        Column names for the results.
    theta0 : array, optional
        Starting relative covariance factor (default: identity, as lme4).
    satterthwaite : bool, default True
        Compute what Satterthwaite degrees of freedom need (``vcov_varpar_``,
        ``jac_cov_params_``: 2 k evaluations of the deviance gradient, k = number of
        theta, where a fit takes 30-100). False leaves them None (Wald inference only).

    Returns
    -------
    LMMFit

    Raises
    ------
    smanh.errors.ModelError
        If the model is not identifiable (see module docstring and ``_check_inputs``).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.repeat(np.arange(50), 4); t = np.tile(np.arange(4.0), 50)
    >>> y = 1 + 0.5 * t + np.random.default_rng(0).normal(size=200) + np.repeat(
    ...     np.random.default_rng(1).normal(size=50), 4)
    >>> x = np.column_stack([np.ones(200), t]); z = x.copy()
    >>> fit = fit_lmm_arrays(y, x, z, g)
    >>> fit.n_groups
    50
    """
    y = np.asarray(y, dtype=float).ravel()
    if y.size == 0:  # before the reshapes below, which cannot infer a width from 0 rows
        raise ModelError("no observations: a mixed model needs at least 2 groups with data")
    x = np.asarray(x, dtype=float).reshape(len(y), -1)
    z = np.asarray(z, dtype=float).reshape(len(y), -1)
    codes, labels = pd.factorize(np.asarray(groups), sort=True)
    n_groups = len(labels)
    p, q = x.shape[1], z.shape[1]
    fe_names = list(fe_names) if fe_names is not None else [f"x{j}" for j in range(p)]
    re_names = list(re_names) if re_names is not None else [f"z{j}" for j in range(q)]
    messages = _check_inputs(y, x, z, codes, n_groups, fe_names, re_names)

    cp = _cross_products(y, x, z, codes, n_groups)
    _check_random_design(cp.ztz, re_names)
    rows, cols = _tril_index(q)
    start = np.asarray(theta0, float) if theta0 is not None else (rows == cols).astype(float)
    res = _fit_theta(cp, reml, start)
    theta, hess_ok, polish_evals = _newton_polish(res.x, cp, reml)
    theta = _canonical(theta, q)
    res.nfev += polish_evals
    prof = _profile(theta, cp, reml, gradient=True)
    if not hess_ok:
        messages.append(
            "WARNING: the Hessian of the deviance is not positive definite at the optimum "
            "the fit may be a saddle point or poorly identified"
        )
    result = _result(cp, prof, res, theta, reml, n_groups, labels, fe_names, re_names, messages)
    if satterthwaite:
        vcov_varpar, jac, notes = _satterthwaite_terms(theta, cp, reml, prof)
        names = [f"theta{j + 1}" for j in range(theta.size)] + ["sigma"]
        result.vcov_varpar_ = pd.DataFrame(vcov_varpar, index=names, columns=names)
        result.jac_cov_params_ = jac
        result.messages_ += notes
    return result


def _result(
    cp, prof, res, theta, reml, n_groups, labels, fe_names, re_names, messages
) -> LMMFit:
    """Turn the profile at the optimum into an LMMFit with diagnostics."""
    if not np.isfinite(prof.deviance):
        raise ModelError("the deviance is not finite at the optimum; the model cannot be fitted")
    df = cp.n - cp.p if reml else cp.n
    sigma2 = prof.r2 / df
    lam = prof.lam
    pg = float(np.max(np.abs(prof.gradient))) / cp.n
    converged = bool(pg < 1e-6)
    messages = list(messages) + [
        f"BFGS: {res.message}; after Newton polish max |gradient|/n = {pg:.1e}"
    ]
    if not converged:
        messages.append("WARNING: the optimizer did not converge; estimates are unreliable")
    diag = theta[[k for k, (r, c) in enumerate(zip(*_tril_index(cp.q))) if r == c]]
    singular = bool(np.any(diag < SINGULAR_TOL))
    if singular:
        gone = [re_names[j] for j in range(cp.q) if diag[j] < SINGULAR_TOL]
        messages.append(
            "singular fit (boundary): random-effects covariance is singular, component(s) "
            f"{gone} collapse; fixed effects are still the exact estimates. Consider refitting "
            "a simpler random-effects structure (e.g. random intercept only)."
        )
    cov_re = sigma2 * lam @ lam.T
    b = (lam @ prof.u).T  # conditional modes b_i = Lambda u_i
    return LMMFit(
        params_=pd.Series(prof.beta + cp.beta_ols, index=fe_names),
        cov_params_=pd.DataFrame(sigma2 * prof.a_inv, index=fe_names, columns=fe_names),
        cov_re_=pd.DataFrame(cov_re, index=re_names, columns=re_names),
        sigma2_=float(sigma2),
        loglik_=float(-0.5 * prof.deviance),
        theta_=theta.copy(),
        reml=reml,
        n_obs=cp.n,
        n_groups=n_groups,
        n_iter_=int(res.nit),
        n_fev_=int(res.nfev),
        converged_=converged,
        singular_=singular,
        messages_=messages,
        random_effects_=pd.DataFrame(b, index=pd.Index(labels, name="group"), columns=re_names),
    )


def fit_lmm(
    data: pd.DataFrame,
    response: str,
    fixed: Sequence[str] | pd.DataFrame = ("age",),
    random: Sequence[str] = ("age",),
    group: str = "patient_id",
    *,
    reml: bool = True,
    intercept: bool = True,
    random_intercept: bool = True,
    satterthwaite: bool = True,
) -> LMMFit:
    """Fit ``response ~ fixed + (random | group)`` like ``lme4::lmer``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation.
    response : str
        Column of the response (e.g. ``"score"``).
    fixed : list of str or DataFrame, default ``["age"]``
        Numeric fixed-effect columns (an ``(Intercept)`` is added when ``intercept``), or a
        ready design matrix (DataFrame aligned with ``data``; used as is).
    random : list of str, default ``["age"]``
        Numeric columns with a random slope; ``[]`` gives a random intercept only.
    group : str, default ``"patient_id"``
        Grouping column (patients).
    reml : bool, default True
        REML (default, as lme4) or ML.
    intercept, random_intercept : bool, default True
        Add an ``(Intercept)`` column to the fixed / random design.
    satterthwaite : bool, default True
        Prepare Satterthwaite degrees of freedom (see :func:`fit_lmm_arrays`).

    Returns
    -------
    LMMFit

    Raises
    ------
    smanh.errors.ModelError
        Missing columns, non-numeric or non-finite values, or a non-identifiable model.

    Examples
    --------
    >>> fit = fit_lmm(assessments, "score", ["age"], ["age"], "patient_id")  # doctest: +SKIP
    >>> fit.params_["age"], fit.bse_["age"], fit.singular_                    # doctest: +SKIP
    """
    if isinstance(fixed, pd.DataFrame):
        x_frame = fixed
    else:
        x_frame = _design(data, list(fixed), intercept, "fixed")
    z_frame = _design(data, list(random), random_intercept, "random")
    if z_frame.shape[1] == 0:
        raise ModelError("random-effects design is empty: request an intercept or a slope")
    _require_columns(data, [response, group])
    y = _numeric(data[response], response)
    return fit_lmm_arrays(
        y,
        x_frame.to_numpy(dtype=float),
        z_frame.to_numpy(dtype=float),
        data[group].to_numpy(),
        reml=reml,
        fe_names=list(x_frame.columns),
        re_names=list(z_frame.columns),
        satterthwaite=satterthwaite,
    )


def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ModelError(f"column(s) {missing} not in the data (has {list(data.columns)})")


def _numeric(series: pd.Series, name: str) -> np.ndarray:
    try:
        return series.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"column {name!r} is not numeric: {exc}") from None


def _design(data: pd.DataFrame, columns: list[str], intercept: bool, kind: str) -> pd.DataFrame:
    """Numeric design frame with an optional leading ``(Intercept)`` column."""
    _require_columns(data, columns)
    frame = pd.DataFrame(index=data.index)
    if intercept:
        frame["(Intercept)"] = 1.0
    for col in columns:
        frame[col] = _numeric(data[col], f"{col} ({kind} effects)")
    return frame
