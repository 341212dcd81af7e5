from __future__ import annotations

from django.apps import AppConfig


class MceStandInConfig(AppConfig):
    name = "example_project.mce_stand_in"
    label = "mce_stand_in"
    verbose_name = "Stand-in for MCE's conversion endpoint"
    default_auto_field = "django.db.models.BigAutoField"
