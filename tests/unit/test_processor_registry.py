"""The processor registry: entry points, lazy construction, overrides, unknown names."""

from __future__ import annotations

import importlib
import pathlib
import shutil
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import entry_points

import pytest

from service.adapters.processors import registry
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.config import ConfigError, Settings
from service.domain.errors import InvalidArgument
from service.domain.processor import AuthorizeRequest, ProcessorStatus
from tests.fakes import FakeProcessor

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_installed_entry_points_are_the_ones_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][registry.GROUP]
    ours = [ep for ep in entry_points(group=registry.GROUP) if ep.dist.name == registry.DISTRIBUTION]
    installed = {ep.name: ep.value for ep in ours}
    assert installed == declared, "pyproject.toml changed since the last install: run make setup"
    assert set(declared) <= set(registry.discover())


def test_a_source_tree_that_was_never_installed_says_how_to_install_it(tmp_path):
    # A fresh interpreter that sees a copy of the source (no egg-info beside it) and the standard
    # library, but no site-packages.
    shutil.copytree(ROOT / "service", tmp_path / "service", ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent(
        f"""
        import sys
        sys.path[:] = [{str(tmp_path)!r}] + [p for p in sys.path if "-packages" not in p]
        from service.adapters.processors import registry
        try:
            registry.discover()
        except registry.NotInstalled as exc:
            print(exc)
        """
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "'payment-service' distribution is not installed" in result.stdout
    assert "pip install -e ." in result.stdout


def test_names_default_and_get():
    processors = registry.load_processors(Settings())
    assert {"inhouse", "stripe"} <= set(processors.names())
    assert processors.default == "inhouse"
    assert isinstance(processors.get("inhouse"), InHouseProcessor)
    assert processors.get("") is processors.get("inhouse")  # built once, default for an empty name


def test_default_comes_from_settings():
    processors = registry.load_processors(Settings(default_processor="stripe", stripe_api_key="sk_test_123"))
    assert processors.get().name == "stripe"


def test_unknown_name_is_invalid_argument_listing_the_available_ones():
    with pytest.raises(InvalidArgument) as raised:
        registry.load_processors(Settings()).get("paypal")
    assert raised.value.field == "processor"
    assert raised.value.description.startswith("unknown processor 'paypal'; available: ")
    assert "inhouse, stripe" in raised.value.description


def test_stripe_is_built_lazily_so_a_missing_key_only_fails_its_own_use():
    processors = registry.load_processors(Settings())
    assert "stripe" in processors
    assert processors.get("inhouse").name == "inhouse"
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        processors.get("stripe")


async def test_overrides_replace_adapters_by_name():
    fake = FakeProcessor()
    processors = registry.load_processors(
        Settings(), overrides={"inhouse": fake, "extra": FakeProcessor("extra")}
    )
    assert processors.get("inhouse") is fake
    assert "extra" in processors.names()
    await processors.aclose()


async def test_aclose_closes_the_adapters_that_were_built():
    processors = registry.load_processors(Settings(stripe_api_key="sk_test_123"))
    stripe_processor = processors.get("stripe")
    await processors.aclose()
    assert stripe_processor._http._client_async.is_closed


# ---- a new adapter through a real entry point, with no change to the core ---------------------

PLUGIN = '''
"""A third-party processor: the fake under another name."""
from tests.fakes import FakeProcessor


class MyProcessor(FakeProcessor):
    @classmethod
    def from_settings(cls, settings, *, engine=None):
        return cls("myproc")


class NotAProcessor:
    @classmethod
    def from_settings(cls, settings, *, engine=None):
        return object()
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch) -> pathlib.Path:
    """A distribution `myproc-plugin` on sys.path, with a dist-info declaring two entry points."""
    (tmp_path / "myproc_plugin").mkdir()
    (tmp_path / "myproc_plugin" / "__init__.py").write_text(PLUGIN)
    dist_info = tmp_path / "myproc_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: myproc-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{registry.GROUP}]
            myproc = myproc_plugin:MyProcessor
            broken = myproc_plugin:NotAProcessor
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("myproc_plugin", None)


async def test_an_installed_distribution_adds_a_processor(installed_plugin):
    processors = registry.load_processors(Settings())
    assert "myproc" in processors.names()
    myproc = processors.get("myproc")
    assert myproc.name == "myproc"
    request = AuthorizeRequest("pay_1", "acct_1", 500, "USD", "pm_card_visa", capture=True)
    assert (await myproc.authorize(request, idempotency_key="k1")).status is ProcessorStatus.CAPTURED


def test_an_entry_point_must_build_a_processor(installed_plugin):
    with pytest.raises(TypeError, match="'broken' does not implement the PaymentProcessor port"):
        registry.load_processors(Settings()).get("broken")


def test_default_processor_can_be_a_plugin(installed_plugin):
    assert registry.load_processors(Settings(default_processor="myproc")).get().name == "myproc"
