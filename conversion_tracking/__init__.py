"""Conversion tracking for Salesforce Marketing Cloud Engagement emails."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conversion_tracking.capture import get_tracking
    from conversion_tracking.firing import fire_conversion

__version__ = "0.1.0.dev0"
__all__ = ["fire_conversion", "get_tracking"]

# Where the public functions live. They are imported on first use: their
# modules use the models, which cannot be imported while Django reads
# INSTALLED_APPS, the moment this package is first imported.
_HOMES = {
    "fire_conversion": "conversion_tracking.firing",
    "get_tracking": "conversion_tracking.capture",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
