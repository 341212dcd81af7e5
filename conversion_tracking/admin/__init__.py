"""Admin for the mirror and the imports: read-only views of what happened."""

from __future__ import annotations

from conversion_tracking.admin import extract as extract
from conversion_tracking.admin import mirror as mirror
