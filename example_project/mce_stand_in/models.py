"""What the stand-in received: one row per valid pixel request, values as sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

MAX_VALUE_LENGTH = 200


class ReceivedConversion(models.Model):
    """One pixel request, each element's text kept exactly as it arrived."""

    received_at = models.DateTimeField(default=timezone.now)
    member_id = models.CharField("member_id", max_length=MAX_VALUE_LENGTH, blank=True)
    job_id = models.CharField("job_id", max_length=MAX_VALUE_LENGTH, blank=True)
    sub_id = models.CharField("sub_id", max_length=MAX_VALUE_LENGTH, blank=True)
    list_id = models.CharField("list", max_length=MAX_VALUE_LENGTH, blank=True)
    original_link_id = models.CharField(
        "original_link_id", max_length=MAX_VALUE_LENGTH, blank=True
    )
    batch_id = models.CharField("BatchID", max_length=MAX_VALUE_LENGTH, blank=True)
    conversion_link_id = models.CharField(
        "conversion_link_id", max_length=MAX_VALUE_LENGTH, blank=True
    )
    link_alias = models.CharField("link_alias", max_length=MAX_VALUE_LENGTH, blank=True)
    display_order = models.CharField(
        "display_order", max_length=MAX_VALUE_LENGTH, blank=True
    )
    data = models.JSONField(
        default=list, blank=True, help_text="The data elements' attributes."
    )
    xml = models.TextField(help_text="The xml parameter, as received.")

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.link_alias or 'conversion'} for job {self.job_id}"
