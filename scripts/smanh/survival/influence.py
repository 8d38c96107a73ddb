"""Infinitesimal-jackknife (robust) variances of survival curves, summed over clusters.

The robust variance of an estimate at time ``t_j`` is ``sum over clusters k of U_k(j)^2``,
where ``U_k`` is the influence of cluster ``k`` (a patient and all its rows): the
derivative of the estimate when the case weights of that cluster's rows are scaled by
``1 + eps``. R ``survival`` computes these influences with a loop over every time and
every cluster (``survfitkm.c``, ``survfitci.c``), which costs ``clusters x times``.

For the Kaplan-Meier and Aalen-Johansen estimators the influence of a cluster is a
combination of a few curves common to everyone (``basis_q(j)``, e.g. a cumulative sum
over the event times) with coefficients that change only where one of the cluster's rows
enters or leaves the risk set::

    U_k(j) = sum_q coef_kq(j) * basis_q(j).

Between two such changes the coefficients are constant: a *segment*. The variance needs
``sum_k coef_ka(j) coef_kb(j)`` for a few pairs ``(a, b)``, which are sums over the
segments covering ``j``: difference arrays, ``O(rows log rows)`` in all. The estimators
(``km.py``, ``cuminc.py``) derive their coefficients; this module only does the sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Segments",
    "all_at_risk_have_the_event",
    "canonical_order",
    "carry_forward",
    "cluster_codes",
    "cluster_integrals",
    "segments",
    "sum_of_products",
    "weighted_at_risk",
]


@dataclass(frozen=True)
class Segments:
    """Piecewise-constant influence coefficients of every cluster.

    Segment ``s`` says: for time indices ``start[s] <= j < stop[s]`` the coefficients of
    cluster ``cluster[s]`` are ``coef[s]``. Outside its segments a cluster's coefficients
    are zero.
    """

    cluster: np.ndarray  # (S,) cluster code
    start: np.ndarray  # (S,) first time index covered
    stop: np.ndarray  # (S,) one past the last time index covered
    coef: np.ndarray  # (S, Q)
    n_times: int
    n_clusters: int


def cluster_codes(cluster, n: int) -> tuple[np.ndarray, int]:
    """Integer codes ``0..C-1`` of cluster labels (rows are their own clusters when None)."""
    if cluster is None:
        return np.arange(n), n
    labels = np.asarray(cluster)
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    return codes, int(codes.max()) + 1 if n else 0


def segments(cluster, index, deltas, n_times: int, n_clusters: int) -> Segments:
    """Segments from changes: from time index ``index[i]`` on, the coefficients of cluster
    ``cluster[i]`` change by ``deltas[i]`` (shape (m, Q)); they start at zero.

    The running coefficients are cumulative sums within each cluster (pandas' grouped
    cumulative sum restarts at every cluster, so no rounding is carried from one cluster
    to the next). Changes at the same index are applied together.
    """
    cluster = np.asarray(cluster)
    index = np.asarray(index)
    deltas = np.asarray(deltas, dtype=float).reshape(len(index), -1)
    order = np.lexsort((index, cluster))
    cl, ix = cluster[order], index[order]
    if len(cl) == 0:
        return Segments(cl, ix, ix, deltas[order], n_times, n_clusters)
    coef = pd.DataFrame(deltas[order]).groupby(cl, sort=False).cumsum().to_numpy()
    last_of_cluster = np.append(cl[1:] != cl[:-1], True)
    stop = np.where(last_of_cluster, n_times, np.append(ix[1:], n_times))
    keep = stop > ix  # a later change at the same index supersedes this one
    return Segments(cl[keep], ix[keep], stop[keep], coef[keep], n_times, n_clusters)


def sum_of_products(seg: Segments, pairs) -> np.ndarray:
    """``out[j, i] = sum over clusters k of coef_k,a(j) * coef_k,b(j)`` for ``(a, b) =
    pairs[i]``; shape ``(n_times, len(pairs))``."""
    out = np.empty((seg.n_times, len(pairs)))
    size = seg.n_times + 1
    for i, (a, b) in enumerate(pairs):
        product = seg.coef[:, a] * seg.coef[:, b]
        change = (np.bincount(seg.start, product, minlength=size)
                  - np.bincount(seg.stop, product, minlength=size))
        out[:, i] = np.cumsum(change[:-1])
    return out


def cluster_integrals(seg: Segments, basis_sums: np.ndarray) -> np.ndarray:
    """Per cluster, ``sum_j sum_q coef_kq(j) * basis_sums-increment_q(j)``.

    ``basis_sums`` (shape (n_times + 1, Q)) are prefix sums ``P_q[j] = sum_{i < j} f_q(i)``
    of the functions to integrate the coefficients against (for a restricted mean:
    interval widths times the curve times the basis); returns shape (n_clusters,).
    """
    per_segment = np.sum(seg.coef * (basis_sums[seg.stop] - basis_sums[seg.start]), axis=1)
    return np.bincount(seg.cluster, per_segment, minlength=seg.n_clusters)


def carry_forward(values: np.ndarray, changes: np.ndarray) -> np.ndarray:
    """``values`` where ``changes``, else the value at the last change (0 before any).

    A variance changes only at event times; between them the sums it is computed from
    change (rows leave the risk set) and round differently. R keeps the value of the last
    event time, and quantiles read off the band need exactly flat stretches (they take the
    first age of a stretch at the same value), so do the same.
    """
    last = np.maximum.accumulate(np.where(changes, np.arange(len(changes)), -1))
    out = np.where((last >= 0).reshape((-1,) + (1,) * (values.ndim - 1)),
                   values[np.maximum(last, 0)], 0.0)
    return out


def weighted_at_risk(first, last, weights, n_times: int) -> np.ndarray:
    """Sum of the weights of the rows at risk at every time index: row r is at risk at
    ``first[r] <= j <= last[r]``.

    As R (``survfitkm.c``) accumulates it, from the last time backwards: rows exiting at or
    after ``j`` less rows entering after ``j``, so that the small risk sets of the tail
    carry only the rounding of the tail (a forward running sum would carry that of all the
    weight that has left). Accumulated in extended precision.
    """
    size = n_times + 1
    exits = np.bincount(last, weights, minlength=size)[:n_times].astype(np.longdouble)
    entries = np.bincount(first, weights, minlength=size)[:n_times].astype(np.longdouble)
    exiting_from = np.cumsum(exits[::-1])[::-1]
    entering_after = np.concatenate([np.cumsum(entries[::-1])[::-1][1:], [0.0]])
    return (exiting_from - entering_after).astype(float)


def all_at_risk_have_the_event(first, last, event, weights, n_times: int) -> np.ndarray:
    """Whether every row of positive weight at risk at each time has the event there
    (exact counts): the product-limit factor is then exactly 0, whatever the rounding of
    the weighted sums."""
    live = weights > 0
    size = n_times + 1
    at_risk = np.cumsum(np.bincount(first[live], minlength=size)[:n_times]
                        - np.bincount(last[live] + 1, minlength=size)[:n_times])
    dying = np.bincount(last[live & event], minlength=n_times)
    return (dying > 0) & (dying == at_risk)


def canonical_order(entry, exit_, event, weights, cluster) -> np.ndarray:
    """A row order that depends only on the rows' values, not on the order they came in:
    the sums of weights then round the same way whatever that order (deterministic
    output)."""
    keys = [weights, event, entry, exit_]
    if cluster is not None:
        keys.insert(0, np.unique(cluster, return_inverse=True)[1].reshape(-1))
    return np.lexsort(keys)
