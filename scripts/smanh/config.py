"""Validating the workflow configuration against its JSON schema, with clear messages.

Defaults in the schema fill keys a config file leaves out, so a user's config needs
only ``registry.path``.

Examples
--------
>>> cfg = validate_config({"registry": {"path": "data/sample"}}, SCHEMA)  # doctest: +SKIP
>>> cfg["analysis"]["landmark_ages"]                                    # doctest: +SKIP
[1, 2, 5, 10, 20]
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from smanh.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path = SCHEMA) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict, schema: dict | str | Path = SCHEMA) -> dict:
    """Return the config with defaults filled in, or raise ``ConfigError`` naming the key."""
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    if not isinstance(config, dict):
        raise ConfigError("the configuration must be a mapping of keys to values")
    filled = _with_defaults(copy.deepcopy(config), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n{lines}")
    return filled


def _with_defaults(instance, schema: dict):
    """Fill ``default`` values of object properties, recursively."""
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return instance
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            instance[key] = _with_defaults(instance[key], sub)
    return instance


def _key(path) -> str:
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = ", ".join(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        where = f"'{key}'" if error.absolute_path else "the top level"
        return f"unknown key(s) {', '.join(map(repr, extra))} in {where} (allowed: {allowed})"
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"config key '{key}': {error.instance!r} is not one of: {allowed}"
    return f"config key '{key}': {error.message}"
