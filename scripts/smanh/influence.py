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

__all__ = ["Segments", "segments", "sum_of_products", "cluster_integrals", "cluster_codes"]


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
