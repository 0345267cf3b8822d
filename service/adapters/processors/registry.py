"""Find processor adapters by name and build them on first use.

Adapters register in the ``payment_service.processors`` entry-point group:

    [project.entry-points."payment_service.processors"]
    myproc = "mypkg:MyProcessor"

An entry point resolves to a class with a classmethod
``from_settings(settings, *, engine=None) -> PaymentProcessor``. A package that
adds an entry is picked up with no change to the core. This project's own
adapters (inhouse, stripe) are declared once, in pyproject.toml, and read back
from the installed ``payment-service`` distribution: a source tree that was
never installed (``make setup`` runs ``pip install -e .``) is a clear error, not
a service without processors.

Construction is lazy: an adapter is built the first time it is asked for, so a
missing STRIPE_API_KEY does not stop a service that never uses Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from typing import TYPE_CHECKING, Protocol

from service.domain.errors import InvalidArgument
from service.domain.processor import PaymentProcessor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.config import Settings

GROUP = "payment_service.processors"
DISTRIBUTION = "payment-service"  # this project, as pyproject.toml names it


class NotInstalled(RuntimeError):
    """The service runs from a source tree whose distribution is not installed."""


class ProcessorFactory(Protocol):
    """What an entry point must resolve to."""

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: AsyncEngine | None = None) -> PaymentProcessor: ...


Loader = Callable[[], "type[ProcessorFactory]"]


def discover() -> dict[str, Loader]:
    """Name -> loader of the factory class, from the installed distributions' entry points."""
    try:
        distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise NotInstalled(
            f"the {DISTRIBUTION!r} distribution is not installed, so its processors (entry-point group"
            f" {GROUP!r} in pyproject.toml) cannot be found; install it with 'pip install -e .' (make setup)"
        ) from None
    return {entry_point.name: entry_point.load for entry_point in entry_points(group=GROUP)}


class Processors:
    """The processors this service can use, by name; each built once, on first use."""

    def __init__(
        self,
        loaders: Mapping[str, Loader],
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        overrides: Mapping[str, PaymentProcessor] | None = None,
    ) -> None:
        self._loaders = dict(loaders)
        self._settings = settings
        self._engine = engine
        self._built: dict[str, PaymentProcessor] = dict(overrides or {})
        self.default = settings.default_processor

    def names(self) -> list[str]:
        """Every processor name that ``get`` accepts, sorted."""
        return sorted({*self._loaders, *self._built})

    def get(self, name: str | None = None) -> PaymentProcessor:
        """The processor called ``name`` (the default when empty); InvalidArgument if unknown."""
        name = name or self.default
        processor = self._built.get(name)
        if processor is None:
            processor = self._build(name)
            self._built[name] = processor
        return processor

    def __contains__(self, name: object) -> bool:
        return name in self._loaders or name in self._built

    async def aclose(self) -> None:
        """Close the processors that were built and hold connections."""
        for processor in self._built.values():
            close = getattr(processor, "aclose", None)
            if close is not None:
                await close()

    def _build(self, name: str) -> PaymentProcessor:
        loader = self._loaders.get(name)
        if loader is None:
            raise InvalidArgument(
                "processor", f"unknown processor {name!r}; available: {', '.join(self.names())}"
            )
        processor = loader().from_settings(self._settings, engine=self._engine)
        if not isinstance(processor, PaymentProcessor):
            raise TypeError(f"processor {name!r} does not implement the PaymentProcessor port")
        return processor


def load_processors(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    overrides: Mapping[str, PaymentProcessor] | None = None,
) -> Processors:
    """Every registered processor (lazily built), with ``overrides`` (e.g. fakes) by name."""
    return Processors(discover(), settings, engine=engine, overrides=overrides)
