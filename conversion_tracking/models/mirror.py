"""The local mirror: every captured click-through and every fired pixel."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversion_tracking.tracking import TrackingSet


class TrackingIds(models.Model):
    """The six IDs of an email click, named as on the tracking set.

    Each concrete model indexes (job, subscriber), serving the admin's job
    filter and search and the look-ups of reconciliation, and the subscriber
    alone for the admin's search. The MID gets none: a site sees one or a few,
    so an index on it finds nothing faster and slows every write.
    """

    member_id = models.BigIntegerField(_("member ID (MID)"))
    job_id = models.BigIntegerField(_("job ID"))
    subscriber_id = models.BigIntegerField(_("subscriber ID"))
    list_id = models.CharField(_("list ID"), max_length=40, blank=True)
    url_id = models.BigIntegerField(_("URL ID"), null=True, blank=True)
    batch_id = models.BigIntegerField(_("batch ID"), null=True, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def fields_of(tracking: TrackingSet) -> dict[str, int | str | None]:
        """The six ID fields of a mirror row, taken from ``tracking``."""
        return {
            "member_id": tracking.member_id,
            "job_id": tracking.job_id,
            "subscriber_id": tracking.subscriber_id,
            "list_id": tracking.list_id or "",
            "url_id": tracking.url_id,
            "batch_id": tracking.batch_id,
        }


class ClickThrough(TrackingIds):
    """One captured landing request from an email click."""

    path = models.TextField(_("landing path"), help_text=_("Without its query string."))
    captured_at = models.DateTimeField(_("captured at"), default=timezone.now)

    class Meta:
        verbose_name = _("click-through")
        verbose_name_plural = _("click-throughs")
        ordering = ["-captured_at", "-pk"]
        indexes = [
            models.Index(fields=["captured_at"], name="ct_click_captured_idx"),
            models.Index(fields=["job_id", "subscriber_id"], name="ct_click_job_idx"),
            models.Index(fields=["subscriber_id"], name="ct_click_subscriber_idx"),
        ]

    def __str__(self) -> str:
        return f"Job {self.job_id} click at {self.captured_at:%Y-%m-%d %H:%M}"


class Verification(models.TextChoices):
    PENDING = "pending", _("pending")
    CONFIRMED = "confirmed", _("confirmed")
    MISSING = "missing", _("missing")


class ConversionQuerySet(models.QuerySet["Conversion"]):
    def with_verification(self) -> ConversionQuerySet:
        """Annotate ``verification`` (a :class:`Verification` value) and
        ``recorded_at`` (when MCE recorded a confirmed conversion, else
        ``None``): what the conversion's verdict says, ``pending`` without
        one. Both can be filtered and ordered by."""
        annotated: ConversionQuerySet = self.annotate(
            verification=Coalesce(
                "verdict__status",
                Value(str(Verification.PENDING)),
                output_field=models.CharField(),
            ),
            recorded_at=F("verdict__recorded_at"),
        )
        return annotated


class Conversion(TrackingIds):
    """One fired conversion pixel, as it was sent: never changed afterwards.

    What reconciliation found about it is its
    :class:`~conversion_tracking.models.Verdict`.
    """

    clicked_at = models.DateTimeField(
        _("clicked at"), help_text=_("When the click that earned it was captured.")
    )
    link_id = models.PositiveIntegerField(_("conversion link ID"), default=1)
    alias = models.CharField(_("link alias"), max_length=100, blank=True)
    display_order = models.PositiveIntegerField(_("display order"), default=1)
    data = models.JSONField(
        _("data items"),
        default=list,
        blank=True,
        help_text=_("The pixel's data items: amt, unit, accumulate."),
    )
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    pixel_url = models.TextField(_("pixel URL"))
    path = models.TextField(_("page path"))
    created_at = models.DateTimeField(_("fired at"), default=timezone.now)
    conversion_key = models.CharField(
        _("conversion key"),
        max_length=64,
        editable=False,
        help_text=_(
            "Identifies the conversion: the click, the link ID, the reference."
        ),
    )

    objects = ConversionQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["created_at"], name="ct_conv_created_idx"),
            models.Index(fields=["job_id", "subscriber_id"], name="ct_conv_job_idx"),
            models.Index(fields=["subscriber_id"], name="ct_conv_subscriber_idx"),
        ]
        # A constraint rather than unique=True: on PostgreSQL the field option
        # adds a second, pattern-matching index that no query uses. The key is
        # what makes a conversion fire once, even under concurrent requests.
        constraints = [
            models.UniqueConstraint(
                fields=["conversion_key"], name="ct_conv_key_unique"
            )
        ]

    def __str__(self) -> str:
        label = self.alias or f"link {self.link_id}"
        return f"{label} for job {self.job_id} at {self.created_at:%Y-%m-%d %H:%M}"
