"""Older names the service still accepts for a setting, and the rule when both are given.

The seed documented `STRIPE_SECRET_KEY`; the service reads `STRIPE_API_KEY`. Either
works. Both set to different values is a configuration error rather than a silent
choice, because picking the wrong Stripe account is not something to find out
from a charge. The error names the variables, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping

STRIPE_KEY_NAMES = ("STRIPE_API_KEY", "STRIPE_SECRET_KEY")


def stripe_api_key(env: Mapping[str, str]) -> str:
    """STRIPE_API_KEY, else its alias STRIPE_SECRET_KEY; ConfigError when both are set and differ."""
    from .config import ConfigError

    primary, alias = (env.get(name, "").strip() for name in STRIPE_KEY_NAMES)
    if primary and alias and primary != alias:
        raise ConfigError("STRIPE_API_KEY and STRIPE_SECRET_KEY (its alias) are both set and differ: set only one")
    return primary or alias
