"""Signals a site can connect to.

``click_captured`` is sent with ``request`` and ``tracking`` (a
:class:`~conversion_tracking.tracking.TrackingSet`) each time a landing request's
parameters are captured. ``conversion_fired`` is sent with ``request`` and
``conversion`` (the :class:`~conversion_tracking.models.Conversion` row) each
time a conversion pixel is rendered for the first time.
"""

from __future__ import annotations

from django.dispatch import Signal

click_captured = Signal()
conversion_fired = Signal()
