"""The project's own exceptions: every error a user can cause is one of these."""

from __future__ import annotations


class SmanhError(Exception):
    """Base class of all errors a user can cause (bad export, bad config, bad model input)."""


class ConfigError(SmanhError):
    """The workflow configuration breaks a rule; the message names the key."""


class ModelError(SmanhError):
    """A model cannot be fitted to the data given (not identifiable, empty stratum, ...)."""
