"""Config validation: defaults fill the gaps, and a bad config names the key."""

import pytest

from smanh.config.validation import validate_config
from smanh.errors import ConfigError


def test_minimal_config_gets_the_documented_defaults():
    config = validate_config({"registry": {"path": "/data/export"}})
    assert config["registry"]["format"] == "canonical"
    assert config["analysis"]["endpoints"][0] == "death_or_permanent_ventilation"
    assert len(config["analysis"]["endpoints"]) == 7  # every built-in endpoint
    assert config["analysis"]["min_stratum_size"] == 10
    assert config["analysis"]["parametric"]["extrapolate_to"] == 40
    assert config["analysis"]["stratify_by"] == ["all", "sma_type", "smn2_copies"]
    assert config["analysis"]["landmark_ages"] == [1, 2, 5, 10, 20]
    assert config["analysis"]["censor_at_treatment"] is True
    assert config["report"]["min_cell_count"] == 5


@pytest.mark.parametrize(
    "config, message",
    [
        ({}, "'registry' is a required property"),
        ({"registry": {}}, "config key 'registry': 'path' is a required property"),
        ({"registry": {"path": "x", "format": "fhir"}}, "config key 'registry.format': 'fhir' is not one of: canonical"),
        ({"registry": {"path": "x"}, "analysis": {"landmark_ages": [1, "two"]}}, "config key 'analysis.landmark_ages[1]'"),
        ({"registry": {"path": "x"}, "analysis": {"stratify_by": ["county"]}}, "config key 'analysis.stratify_by[0]': 'county' is not one of"),
        ({"registry": {"path": "x"}, "analysis": {"endpoints": [{"name": "x"}]}},
         "config key 'analysis.endpoints[0]': endpoint 'x' is not built in, so it needs 'events'"),
        ({"registry": {"path": "x"}, "analysis": {"endpoints": [{"name": "x", "events": ["death"], "time_origin": "conception"}]}},
         "config key 'analysis.endpoints[0].time_origin': 'conception' is not one of: birth, onset, diagnosis"),
        ({"registry": {"path": "x"}, "analysis": {"endpoints": ["death", {"name": "death", "time_origin": "onset"}]}},
         "config key 'analysis.endpoints[1]': endpoint name 'death' is already used"),
        ({"registry": {"path": "x"}, "analysis": {"cox_models": [{"name": "m", "formula": "sma_type * sex"}]}},
         "config key 'analysis.cox_models[0].formula': 'sma_type * sex' must be terms joined by '+'"),
        ({"registry": {"path": "x"}, "analysis": {"confidence_level": 1.5}}, "config key 'analysis.confidence_level'"),
        ({"registry": {"path": "x"}, "report": {"min_cell_count": 0}}, "config key 'report.min_cell_count'"),
        ({"registry": {"path": "x"}, "analyses": {}}, "unknown key(s) 'analyses' in the top level"),
        ({"registry": {"path": "x"}, "analysis": {"endpoint": []}}, "unknown key(s) 'endpoint' in 'analysis'"),
    ],
)
def test_bad_config_names_the_key(config, message):
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert message in str(error.value)
