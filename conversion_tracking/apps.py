from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ConversionTrackingConfig(AppConfig):
    name = "conversion_tracking"
    verbose_name = _("MCE conversion tracking")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversion_tracking.checks import check_middleware, check_settings

        checks.register(check_middleware, checks.Tags.compatibility)
        checks.register(check_settings, checks.Tags.compatibility)
