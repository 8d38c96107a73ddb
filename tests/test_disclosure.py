"""Small-cell suppression: no count below the threshold, none recoverable by subtraction."""

from hypothesis import given, settings
from hypothesis import strategies as st

from smanh.disclosure import hidden_cells, show_count, show_group


def test_small_counts_are_shown_as_below_threshold():
    assert show_count(0, 5) == "<5"
    assert show_count(4, 5) == "<5"
    assert show_count(5, 5) == "5"
    assert show_count(float("nan"), 5) == ""


def test_a_single_hidden_cell_gets_a_complementary_one():
    assert show_group([120, 3, 40, 57], 5) == ["120", "<5", "≈40", "57"]
    # Two small cells protect each other; nothing more to hide.
    assert show_group([120, 3, 2, 57], 5) == ["120", "<5", "<5", "57"]
    # Without a shown total there is nothing to subtract from.
    assert show_group([120, 3, 40, 57], 5, total_shown=False) == ["120", "<5", "40", "57"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=8), st.integers(2, 11))
def test_no_hidden_cell_can_be_recovered_from_the_total(counts, threshold):
    """With the total and the shown cells known, the hidden cells' sum is known; a hidden
    cell of 1 or more patients stays ambiguous only if another cell is hidden with it
    (one unit can move between them). A total below the threshold is itself hidden."""
    hidden = hidden_cells(counts, threshold)
    assert all(h for c, h in zip(counts, hidden) if c < threshold), "every small cell hidden"
    if sum(counts) >= threshold and any(1 <= c < threshold for c in counts):
        assert sum(hidden) >= 2 or len(counts) == 1, (counts, hidden)


def test_recovering_a_lone_small_cell_is_impossible_by_brute_force():
    """From the total, the shown cells and the rounded partner (±5), the small cell
    could be any of several values."""
    counts = [120, 3, 43, 57]
    shown = show_group(counts, 5)
    assert shown == ["120", "<5", "≈40", "57"]
    total = sum(counts)
    candidates = {
        small
        for small in range(0, 5)
        for partner in range(35, 46)
        if 120 + small + partner + 57 == total
    }
    assert len(candidates) > 1


def test_a_lone_small_baseline_age_band_is_complemented_within_its_stratification():
    """The baseline-age bands of change_12m.csv and the SMA types partition the same pairs:
    one hidden band would be the SMA types' total minus the other bands."""
    import pandas as pd
    from report.disclosure_audit import audit

    from smanh.disclosure.release import release

    rows = [("sma_type", "2", 30), ("sma_type", "3", 22),
            ("baseline_age_band", "<2", 3), ("baseline_age_band", "2–5", 20),
            ("baseline_age_band", "≥5", 29)]
    table = pd.DataFrame([{"scale": "HFMSE", "stratify_by": by, "stratum": s, "n_pairs": n,
                           "n_patients": n, "n_declined": 0, "n_stable": n, "n_improved": 0,
                           "share_declined": 0.0, "declined_lo": 0.0, "declined_hi": 0.1,
                           "share_stable": 1.0, "stable_lo": 0.9, "stable_hi": 1.0,
                           "share_improved": 0.0, "improved_lo": 0.0, "improved_hi": 0.1,
                           "note": ""} for by, s, n in rows])
    shown = release({"change_12m": table}, 5)["change_12m"]
    assert shown["n_pairs"].tolist() == ["30", "22", "<5", "≈20", "29"]
    assert audit({"change_12m": shown}, 5) == []
    # the audit sees the lone hidden band without the complement
    unprotected = shown.assign(n_pairs=["30", "22", "<5", "20", "29"])
    assert any("baseline_age_band against sma_type" in p for p in audit({"change_12m": unprotected}, 5))
