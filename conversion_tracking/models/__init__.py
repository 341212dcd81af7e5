"""The app's models: the local mirror of clicks and conversions, and imports."""

from __future__ import annotations

from conversion_tracking.models.extract import (
    ExtractedConversion,
    ExtractImport,
    ImportStatus,
    Verdict,
)
from conversion_tracking.models.mirror import ClickThrough, Conversion, Verification

__all__ = [
    "ClickThrough",
    "Conversion",
    "ExtractImport",
    "ExtractedConversion",
    "ImportStatus",
    "Verdict",
    "Verification",
]
