"""The one env reader: every setting of every process is read from its variable, and bad values name it."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from common.env import ConfigError, read, variables
from devtools.settings import DevSettings
from gateway.config import GraphQLSettings
from service.config import Settings

pytestmark = pytest.mark.unit

SETTINGS = [Settings, GraphQLSettings, DevSettings]


def sample(field: dataclasses.Field, kind: object) -> tuple[str, object]:
    """A valid value for the field other than its default, as text and as the value expected."""
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if kind is bool:
        return ("false", False) if default else ("true", True)
    if kind in (int, float):
        return str(int(default) + 1), kind(int(default) + 1)
    if kind is str:
        return "sample-value", ("SAMPLE-VALUE" if field.metadata["env"] == "LOG_LEVEL" else "sample-value")
    return "sk_sample=acct_sample", {"sk_sample": "acct_sample"}


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_field_is_read_from_its_variable(cls):
    types = typing.get_type_hints(cls)
    read_from_env = [f for f in dataclasses.fields(cls) if "env" in f.metadata]
    assert read_from_env
    for field in read_from_env:
        raw, expected = sample(field, types[field.name])
        value = getattr(read(cls, {field.metadata["env"]: raw}), field.name)
        assert value == expected, field.metadata["env"]
    print(f"{cls.__name__}: {len(read_from_env)} variables read")


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_unset_and_blank_variables_keep_the_declared_default(cls):
    blank = {name: "  " for name in variables(cls)}
    assert read(cls, blank) == read(cls, {}) == cls()


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_a_number_that_is_not_one_is_an_error_naming_the_variable(cls):
    types = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if "env" in f.metadata]
    numeric = [f.metadata["env"] for f in fields if types[f.name] in (int, float)]
    assert numeric
    for name in numeric:
        with pytest.raises(ConfigError, match=name):
            read(cls, {name: "ten"})


def test_an_alias_is_read_and_a_disagreement_names_both_variables_not_the_values():
    assert Settings.from_env({"STRIPE_SECRET_KEY": "sk_test_a"}).stripe_api_key == "sk_test_a"
    with pytest.raises(ConfigError) as raised:
        read(Settings, {"STRIPE_API_KEY": "sk_test_a", "STRIPE_SECRET_KEY": "sk_test_b"})
    assert "STRIPE_API_KEY" in str(raised.value) and "sk_test" not in str(raised.value)
