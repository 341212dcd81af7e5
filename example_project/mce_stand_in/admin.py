from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from example_project.mce_stand_in.models import ReceivedConversion


@admin.register(ReceivedConversion)
class ReceivedConversionAdmin(admin.ModelAdmin):
    """Read-only: rows come from pixel requests only."""

    list_display = ["received_at", "member_id", "job_id", "sub_id", "link_alias"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ReceivedConversion | None = None
    ) -> bool:
        return False
