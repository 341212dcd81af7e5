"""Imported Tracking Extracts: what MCE recorded, to check the mirror against."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversion_tracking.extract_values import MAX_TEXT_LENGTH
from conversion_tracking.models.mirror import Conversion, Verification


class ImportStatus(models.TextChoices):
    IMPORTED = "imported", _("imported")
    RECONCILED = "reconciled", _("reconciled")


class ExtractImport(models.Model):
    """One imported extract file, with what reconciling its time range found."""

    file_name = models.CharField(_("file name"), max_length=255)
    checksum = models.CharField(
        _("SHA-256 checksum"),
        max_length=64,
        unique=True,
        editable=False,
        help_text=_("The same file is never imported twice."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, help_text=_("The time zone of EventDate.")
    )
    row_count = models.PositiveIntegerField(_("rows in the file"), default=0)
    added_count = models.PositiveIntegerField(
        _("rows added"),
        default=0,
        help_text=_("Rows not already imported from an earlier, overlapping extract."),
    )
    covers_from = models.DateTimeField(_("covers from"), null=True, blank=True)
    covers_until = models.DateTimeField(_("covers until"), null=True, blank=True)
    confirmed_count = models.PositiveIntegerField(_("confirmed"), default=0)
    missing_count = models.PositiveIntegerField(_("missing"), default=0)
    mce_only_count = models.PositiveIntegerField(_("recorded by MCE only"), default=0)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ImportStatus.choices,
        default=ImportStatus.IMPORTED,
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    reconciled_at = models.DateTimeField(_("reconciled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("extract import")
        verbose_name_plural = _("extract imports")
        ordering = ["-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.imported_at:%Y-%m-%d %H:%M})"

    @property
    def match_rate(self) -> float | None:
        """The share of conversions in the covered range that MCE recorded."""
        checked = self.confirmed_count + self.missing_count
        return self.confirmed_count / checked if checked else None


def _confirming() -> models.QuerySet[Verdict]:
    # Reconciliation links a row to one conversion at most.
    confirming: models.QuerySet[Verdict] = Verdict.objects.filter(row=OuterRef("pk"))
    return confirming


class ExtractedConversionQuerySet(models.QuerySet["ExtractedConversion"]):
    def with_confirmed_conversion(self) -> ExtractedConversionQuerySet:
        """Annotate ``confirmed_conversion_id``: the conversion each row
        confirmed, or ``None`` for a row recorded by MCE only."""
        annotated: ExtractedConversionQuerySet = self.annotate(
            confirmed_conversion_id=Subquery(_confirming().values("conversion_id")[:1])
        )
        return annotated

    def confirming(self) -> ExtractedConversionQuerySet:
        """The rows that confirmed a conversion of the mirror."""
        rows: ExtractedConversionQuerySet = self.filter(Exists(_confirming()))
        return rows

    def mce_only(self) -> ExtractedConversionQuerySet:
        """The rows recorded by MCE only: no conversion of the mirror matched."""
        rows: ExtractedConversionQuerySet = self.filter(~Exists(_confirming()))
        return rows


# What makes an extract row the same row: the table's unique key. The event
# date leads, so the index also serves every look-up by time range, and a load
# sorted by it appends to the index's right edge.
ROW_KEY = ("event_date", "member_id", "job_id", "subscriber_id", "fingerprint")


class ExtractedConversion(models.Model):
    """One row of an extract's conversions file."""

    member_id = models.BigIntegerField(_("member ID (MID)"))
    job_id = models.BigIntegerField(_("job ID"))
    subscriber_id = models.BigIntegerField(_("subscriber ID"))
    event_date = models.DateTimeField(_("event date"))
    fingerprint = models.BigIntegerField(
        _("fingerprint"),
        editable=False,
        help_text=_(
            "A hash of the row's other values (its email address aside): with "
            "the IDs and the event date it identifies the row, so overlapping "
            "extracts add it once."
        ),
    )
    batch_id = models.BigIntegerField(_("batch ID"), null=True, blank=True)
    url_id = models.BigIntegerField(_("URL ID"), null=True, blank=True)
    subscriber_key = models.CharField(
        _("subscriber key"), max_length=MAX_TEXT_LENGTH, blank=True
    )
    list_id = models.CharField(_("list ID"), max_length=MAX_TEXT_LENGTH, blank=True)
    event_type = models.CharField(
        _("event type"), max_length=MAX_TEXT_LENGTH, blank=True
    )
    triggered_send_key = models.CharField(
        _("triggered send external key"), max_length=MAX_TEXT_LENGTH, blank=True
    )
    email_address = models.CharField(
        _("email address"),
        max_length=MAX_TEXT_LENGTH,
        blank=True,
        help_text=_("Kept only when CONVERSION_TRACKING_STORE_EMAIL_ADDRESS is on."),
    )
    link_alias = models.CharField(
        _("link alias"), max_length=MAX_TEXT_LENGTH, blank=True
    )
    url = models.TextField(_("URL"), blank=True)
    referring_url = models.TextField(_("referring URL"), blank=True)
    conversion_data = models.TextField(_("conversion data"), blank=True)

    objects = ExtractedConversionQuerySet.as_manager()

    class Meta:
        verbose_name = _("extracted conversion")
        verbose_name_plural = _("extracted conversions")
        ordering = ["-event_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=ROW_KEY, name="ct_extracted_unique_row")
        ]

    def __str__(self) -> str:
        return f"Job {self.job_id} conversion at {self.event_date:%Y-%m-%d %H:%M}"


class Verdict(models.Model):
    """What reconciliation found for one conversion: MCE recorded it
    (``confirmed``, by which extract row and when) or did not (``missing``).
    A conversion without a verdict is ``pending``: no imported extract covers
    its time.

    Kept apart from the conversion, so that reconciling writes narrow rows
    and leaves the mirror as it was fired. Neither link is a database foreign
    key: checking one costs as much per row as writing the row, and verdicts
    are written by reconciliation alone. Deleting a conversion through Django
    deletes its verdict; extract rows are never deleted.
    """

    conversion = models.OneToOneField(
        Conversion,
        on_delete=models.CASCADE,
        primary_key=True,
        db_constraint=False,
        related_name="verdict",
        verbose_name=_("conversion"),
    )
    # Indexed for the admin, which looks up the verdict of each row it lists.
    row = models.ForeignKey(
        "ExtractedConversion",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="verdicts",
        verbose_name=_("extract row"),
        help_text=_("The row of an extract that confirmed the conversion."),
    )
    status = models.CharField(
        _("verification"),
        max_length=10,
        # Pending is the absence of a verdict.
        choices=[
            (value, label)
            for value, label in Verification.choices
            if value != Verification.PENDING
        ],
    )
    recorded_at = models.DateTimeField(
        _("recorded by MCE at"),
        null=True,
        blank=True,
        help_text=_(
            "The event date of the row that confirmed the conversion, kept "
            "here so that counting the confirmations of a time range needs "
            "no join."
        ),
    )

    class Meta:
        verbose_name = _("verdict")
        verbose_name_plural = _("verdicts")

    def __str__(self) -> str:
        return f"{self.get_status_display()}: conversion {self.conversion_id}"
