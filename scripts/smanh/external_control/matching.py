"""1:k nearest-neighbour matching on the logit propensity score, without replacement,
within a caliper — MatchIt 4.5's ``matchit(method = "nearest", distance = "glm",
link = "linear.logit", caliper = c, std.caliper = TRUE, replace = FALSE, ratio = k)``.

The algorithm, as MatchIt's ``nn_matchC_vec`` (4.5.1):

- all units are sorted by distance (stably: ties keep the data order, trial patients
  before registry patients); trial units are taken in order of decreasing distance
  (``m.order = "largest"``, ties in data order);
- in round ``r = 1..k`` each trial unit in turn gets the nearest registry unit still
  available: the nearest available one to its left and to its right in the sorted order,
  each only if its distance differs by at most the caliper, and of the two the left one
  when its difference is not larger;
- the caliper is ``caliper_sd`` times the standard deviation (``n - 1``) of the distance
  over all units; units whose distance is not finite (score 0: a level no trial patient
  has) are left out, as MatchIt leaves out the units it discards;
- MatchIt's weights: 1 for matched trial units; each registry unit gets ``1 / m`` from
  every trial unit it is matched to (``m``: that trial unit's matches), then the registry
  weights are scaled to sum to the number of matched registry units.

MatchIt 4.5.1 compares the distances with C's integer ``abs()`` on some platforms (fixed in
4.5.4, "calipers would not work properly on some systems"); the reference fixtures pass
MatchIt distances scaled by 1e8, where the integer truncation is below 1e-8 of a logit
(``tests/fixtures/external_control/make_reference.R``).

:func:`match_batches` runs the matching of ``B`` bootstrap replicates at once, each a set
of trial units and registry units (patients drawn with replacement are distinct units);
:func:`nearest_neighbour_match` is the one-sample case.
"""

from __future__ import annotations

import numpy as np


def nearest_neighbour_match(logit: np.ndarray, arm: np.ndarray, ratio: int = 1,
                            caliper_sd: float | None = 0.2) -> np.ndarray:
    """Match each trial patient (``arm == 1``) to ``ratio`` registry patients.

    Returns
    -------
    ndarray, shape (n_trial, ratio)
        For each trial patient in data order, the row numbers (into ``logit``) of its
        matched registry patients in the order matched; -1 where none was found.
    """
    arm = np.asarray(arm)
    trial, registry = np.flatnonzero(arm == 1), np.flatnonzero(arm == 0)
    matched = match_batches(logit[trial][None, :], logit[registry][None, :], ratio, caliper_sd)[0]
    return np.where(matched >= 0, registry[np.maximum(matched, 0)], -1)


def match_batches(trial_distance: np.ndarray, registry_distance: np.ndarray, ratio: int = 1,
                  caliper_sd: float | None = 0.2) -> np.ndarray:
    """Greedy matching in ``B`` samples at once.

    Parameters
    ----------
    trial_distance : (B, n1) distances of each sample's trial units (data order).
    registry_distance : (B, n0) distances of its registry units (data order, after the
        trial units).
    ratio : registry units per trial unit.
    caliper_sd : caliper in standard deviations of all units' distances (None: none).

    Returns
    -------
    ndarray of int, shape (B, n1, ratio)
        Registry unit (column of ``registry_distance``) matched to each trial unit in
        each round; -1 where none.
    """
    trial_distance = np.atleast_2d(np.asarray(trial_distance, float))
    registry_distance = np.atleast_2d(np.asarray(registry_distance, float))
    n_samples, n1 = trial_distance.shape
    n0 = registry_distance.shape[1]
    matches = np.full((n_samples, n1, ratio), -1, dtype=np.int64)
    if n1 == 0 or n0 == 0:
        return matches
    if caliper_sd is None:
        caliper = np.full(n_samples, np.inf)
    else:
        every = np.concatenate([trial_distance, registry_distance], axis=1)
        finite = np.isfinite(every)
        count = finite.sum(axis=1)
        mean = np.where(finite, every, 0.0).sum(axis=1) / np.maximum(count, 1)
        squares = np.where(finite, (every - mean[:, None]) ** 2, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            caliper = caliper_sd * np.sqrt(squares / (count - 1))
        caliper = np.where(count > 1, caliper, 0.0)
    by_distance = np.argsort(registry_distance, axis=1, kind="stable")
    sorted_distance = np.take_along_axis(registry_distance, by_distance, axis=1)
    # registry units tied with a trial unit come after it in the data, so to its right
    position = np.arange(n0)
    available = np.isfinite(sorted_distance)
    order = np.argsort(-trial_distance, axis=1, kind="stable")  # largest first, ties in data order
    rows = np.arange(n_samples)
    for round_ in range(ratio):
        for step in range(n1):
            unit = order[:, step]
            distance = trial_distance[rows, unit]
            split = (sorted_distance < distance[:, None]).sum(axis=1)
            left = np.where(available & (position < split[:, None]), position, -1).max(axis=1)
            right = np.where(available & (position >= split[:, None]), position, n0).min(axis=1)
            gap_left = distance - sorted_distance[rows, np.maximum(left, 0)]
            gap_right = sorted_distance[rows, np.minimum(right, n0 - 1)] - distance
            ok_left = (left >= 0) & (gap_left <= caliper)
            ok_right = (right < n0) & (gap_right <= caliper)
            take_left = ok_left & (~ok_right | (gap_left <= gap_right))
            chosen = np.where(take_left, left, np.where(ok_right, right, -1))
            found = chosen >= 0
            matches[rows[found], unit[found], round_] = by_distance[rows[found], chosen[found]]
            available[rows[found], chosen[found]] = False
    return matches


def matching_weights(matches: np.ndarray, n0: int) -> tuple[np.ndarray, np.ndarray]:
    """MatchIt's weights of the units of ``B`` matched samples (``matches`` as
    :func:`match_batches` returns them): ``(trial (B, n1), registry (B, n0))``."""
    matches = np.asarray(matches)
    n_samples, n1, _ = matches.shape
    found = matches >= 0
    per_trial = found.sum(axis=2)
    trial = (per_trial > 0).astype(float)
    share = np.where(found, 1.0 / np.maximum(per_trial, 1)[:, :, None], 0.0)
    flat = (np.arange(n_samples)[:, None, None] * n0 + np.maximum(matches, 0)).ravel()
    registry = np.bincount(flat, weights=share.ravel(), minlength=n_samples * n0).reshape(n_samples, n0)
    total = registry.sum(axis=1, keepdims=True)
    n_matched = (registry > 0).sum(axis=1, keepdims=True)
    registry = np.where(total > 0, registry * n_matched / np.where(total > 0, total, 1.0), 0.0)
    return trial, registry
