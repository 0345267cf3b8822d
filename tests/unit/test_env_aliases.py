"""STRIPE_SECRET_KEY (the seed's name) is an alias of STRIPE_API_KEY."""

import pytest

from service.config import ConfigError, Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("env", [
    {"STRIPE_API_KEY": "sk_test_a"},
    {"STRIPE_SECRET_KEY": "sk_test_a"},
    {"STRIPE_API_KEY": "sk_test_a", "STRIPE_SECRET_KEY": "sk_test_a"},
    {"STRIPE_API_KEY": "sk_test_a", "STRIPE_SECRET_KEY": ""},
])
def test_either_name_or_both_agreeing_configure_the_stripe_key(env):
    assert Settings.from_env(env).stripe_api_key == "sk_test_a"


def test_neither_name_leaves_stripe_unconfigured():
    assert Settings.from_env({}).stripe_api_key == ""


def test_both_names_with_different_values_is_an_error_naming_the_variables_not_the_values():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"STRIPE_API_KEY": "sk_test_a", "STRIPE_SECRET_KEY": "sk_test_b"})
    message = str(raised.value)
    assert "STRIPE_API_KEY" in message and "STRIPE_SECRET_KEY" in message
    assert "sk_test_a" not in message and "sk_test_b" not in message
