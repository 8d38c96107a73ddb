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

from smanh.config.date_formats import check_date_format
from smanh.config.endpoints import endpoint
from smanh.config.external_control import check_external_control
from smanh.errors import ConfigError

# The JSON schemas of the config and the REDCap mapping, in the workflow folder.
SCHEMAS = Path(__file__).resolve().parents[3] / "workflow" / "schemas"
SCHEMA = SCHEMAS / "config.schema.yaml"


def load_schema(path: str | Path = SCHEMA) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict, schema: dict | str | Path = SCHEMA) -> dict:
    """Return the config with defaults filled in, or raise ``ConfigError`` naming the key."""
    filled = validate_with_schema(config, schema)
    _check_endpoints(filled.get("analysis", {}).get("endpoints", []))
    check_date_format(filled["registry"]["date_format"])
    check_external_control(filled)
    return filled


def default_config() -> dict:
    """Every key at the schema's default (the registry path aside): what a config file
    that names only its export runs with."""
    return validate_config({"registry": {"path": "."}})


def validate_with_schema(document: dict, schema: dict | str | Path) -> dict:
    """``document`` (a config or a mapping file) with the schema's defaults filled in, or
    ``ConfigError`` listing every key that breaks the schema."""
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    if not isinstance(document, dict):
        raise ConfigError("the configuration must be a mapping of keys to values")
    filled = _with_defaults(copy.deepcopy(document), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n{lines}")
    return filled


def _check_endpoints(endpoints: list) -> None:
    """What the schema cannot say: unique names; a new endpoint needs its events."""
    seen: dict[str, int] = {}
    for i, spec in enumerate(endpoints):
        key = f"analysis.endpoints[{i}]"
        try:
            name = endpoint(spec).name
        except ConfigError as err:
            raise ConfigError(f"config key '{key}': {str(err).split(': ', 1)[-1]}") from None
        if name in seen:
            raise ConfigError(
                f"config key '{key}': endpoint name '{name}' is already used by "
                f"analysis.endpoints[{seen[name]}]"
            )
        seen[name] = i


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
    if error.validator in ("oneOf", "anyOf") and error.context:
        # the alternative that got furthest says best what is wrong
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
        if len(deepest.absolute_path) > len(error.absolute_path) or isinstance(error.instance, dict):
            return _describe(deepest)
        enums = [e for e in error.context if e.validator == "enum"]
        if enums and isinstance(error.instance, str):
            return _describe(enums[0])
    key = _key(error.absolute_path)
    if error.validator == "pattern" and key.endswith(".formula"):
        return (f"config key '{key}': {error.instance!r} must be terms joined by '+', each one "
                "of sma_type, smn2_copies, sex, site, birth_era, birth_year")
    if error.validator == "additionalProperties":
        allowed = ", ".join(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        where = f"'{key}'" if error.absolute_path else "the top level"
        # the value is never echoed: it may be a password
        hint = ("; a password never goes in the config: set PGPASSWORD or use ~/.pgpass"
                if "password" in extra else "")
        return f"unknown key(s) {', '.join(map(repr, extra))} in {where} (allowed: {allowed}){hint}"
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"config key '{key}': {error.instance!r} is not one of: {allowed}"
    return f"config key '{key}': {error.message}"
