"""Aalen-Johansen with delayed entry: the original per-time loop (quadratic, kept here
as the reference) against smanh.survival.cuminc.aalen_johansen on simulated left-truncated data
with competing events.

    .venv/bin/python benchmarks/bench_cuminc.py [n ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from smanh.survival.cuminc import _check, aalen_johansen


def aalen_johansen_loop(entry, exit, event):
    """The previous implementation: one pass over all subjects per distinct time."""
    entry, exit_, event = _check(entry, exit, event)
    states = sorted(int(s) for s in np.unique(event) if s != 0) or [1]
    times = np.unique(exit_)
    n = len(exit_)
    k_states = len(states)
    cif = np.zeros((len(times), k_states))
    var = np.zeros_like(cif)
    p0, pk = 1.0, np.zeros(k_states)
    u0, uk = np.zeros(n), np.zeros((n, k_states))
    for j, t in enumerate(times):
        at_risk = (entry < t) & (exit_ >= t)
        n_t = at_risk.sum()
        dies = exit_ == t
        d = np.array([np.sum(dies & (event == s)) for s in states])
        if n_t > 0 and d.sum() > 0:
            da = d / n_t
            dn = np.stack([(dies & (event == s)).astype(float) for s in states], axis=1)
            du = (dn - at_risk[:, None] * da[None, :]) / n_t
            uk = uk + u0[:, None] * da[None, :] + p0 * du
            u0 = u0 * (1 - da.sum()) - p0 * du.sum(1)
            pk = pk + p0 * da
            p0 = p0 * (1 - da.sum())
        cif[j] = pk
        var[j] = np.sum(uk**2, axis=0)
    return times, cif, np.sqrt(var)


def simulate(n, seed=1):
    """Left-truncated registry-like ages: entry 0-10 y, exit after a competing-risks
    time (cause 1 or 2) or censoring, ages rounded to days (many ties)."""
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 10, n)
    t1 = entry + 15 * rng.weibull(1.3, n)
    t2 = entry + 40 * rng.weibull(1.0, n)
    c = entry + rng.uniform(0.5, 25, n)
    exit_ = np.minimum.reduce([t1, t2, c])
    event = np.select([exit_ == t1, exit_ == t2], [1, 2], 0)
    entry, exit_ = np.round(entry * 365.25) / 365.25, np.round(exit_ * 365.25) / 365.25
    exit_ = np.maximum(exit_, entry + 1 / 365.25)
    return entry, exit_, event


def main(sizes):
    for n in sizes:
        entry, exit_, event = simulate(n)
        t0 = time.perf_counter()
        ci = aalen_johansen(entry, exit_, event)
        new = time.perf_counter() - t0
        print(f"n={n:>7} distinct times={len(ci.times):>6} new: {new:8.3f} s", flush=True)
        if n <= 100_000:
            t0 = time.perf_counter()
            _, cif, se = aalen_johansen_loop(entry, exit_, event)
            old = time.perf_counter() - t0
            print(f"{'':>31} loop: {old:8.3f} s  max |dcif| {np.abs(cif - ci.cif).max():.2e}"
                  f"  max |dse| {np.abs(se - ci.se).max():.2e}"
                  f"  max rel dse {np.nanmax(np.abs(se - ci.se) / np.where(se > 0, se, np.nan)):.2e}",
                  flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2_000, 10_000, 100_000])
