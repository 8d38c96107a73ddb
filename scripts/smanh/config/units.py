"""Units every part of the workflow shares (stated once here)."""

# Ages and durations in years: whole days / 365.25 (README, "Analysis definitions").
DAYS_PER_YEAR = 365.25
