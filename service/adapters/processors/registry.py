"""Find processor adapters by name and build them on first use.

Adapters register in the ``payment_service.processors`` entry-point group:

    [project.entry-points."payment_service.processors"]
    myproc = "mypkg:MyProcessor"

An entry point resolves to a class with a classmethod
``from_settings(settings, *, engine=None) -> PaymentProcessor``. A package that
adds an entry is picked up with no change to the core. This project's own
adapters are also listed in BUILTIN, which is used only for names no installed
distribution provides (running from a source tree that was never ``pip install``-ed).

Construction is lazy: an adapter is built the first time it is asked for, so a
missing STRIPE_API_KEY does not stop a service that never uses Stripe.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from service.domain.errors import InvalidArgument
from service.domain.processor import PaymentProcessor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.config import Settings

GROUP = "payment_service.processors"

BUILTIN: dict[str, str] = {
    "inhouse": "service.adapters.processors.inhouse:InHouseProcessor",
    "stripe": "service.adapters.processors.stripe:StripeProcessor",
}


class ProcessorFactory(Protocol):
    """What an entry point must resolve to."""

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: AsyncEngine | None = None) -> PaymentProcessor: ...


Loader = Callable[[], "type[ProcessorFactory]"]


def _import(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


def discover() -> dict[str, Loader]:
    """Name -> loader of the factory class, from entry points (and BUILTIN for the rest)."""
    loaders: dict[str, Loader] = {
        name: (lambda target=target: _import(target)) for name, target in BUILTIN.items()
    }
    for entry_point in entry_points(group=GROUP):
        loaders[entry_point.name] = entry_point.load
    return loaders


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
