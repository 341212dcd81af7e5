"""Admin for imported extracts: their counts, their rows, and the upload page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_protect

from conversion_tracking.admin.extract_upload import (
    ExtractUploadForm,
    on_disk,
    stream_to_disk,
)
from conversion_tracking.extract import ExtractError
from conversion_tracking.importer import import_extract
from conversion_tracking.models import (
    Conversion,
    ExtractedConversion,
    ExtractImport,
    Verification,
)
from conversion_tracking.models.extract import ExtractedConversionQuerySet

if TYPE_CHECKING:
    AdminBase = admin.ModelAdmin[Any]
else:
    AdminBase = admin.ModelAdmin

UPLOAD_TEMPLATE = "conversion_tracking/admin/extract_upload.html"


def _changelist(model: type[Model], **params: str) -> str:
    """A changelist URL filtered by standard lookups, whatever its list_filter."""
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
    return f"{reverse(name)}?{urlencode(params)}"


@admin.register(ExtractImport)
class ExtractImportAdmin(AdminBase):
    list_display = (
        "file_name",
        "imported_at",
        "covered_range",
        "row_count",
        "added_count",
        "confirmed_count",
        "missing_conversions",
        "mce_only_rows",
        "match_rate_display",
        "status",
    )
    list_filter = ("status", "imported_at")
    search_fields = ("file_name", "checksum")
    date_hierarchy = "imported_at"
    readonly_fields = (
        *list_display,
        "time_zone",
        "checksum",
        "imported_by",
        "covers_from",
        "covers_until",
        "reconciled_at",
    )
    fields = readonly_fields

    def has_change_permission(
        self, request: HttpRequest, obj: ExtractImport | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ExtractImport | None = None
    ) -> bool:
        return False

    @admin.display(description=_("covers"))
    def covered_range(self, record: ExtractImport) -> str:
        if record.covers_from is None or record.covers_until is None:
            return "-"
        zone = ZoneInfo(record.time_zone)
        start = record.covers_from.astimezone(zone)
        end = record.covers_until.astimezone(zone)
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({record.time_zone})"

    @admin.display(description=_("missing"), ordering="missing_count")
    def missing_conversions(self, record: ExtractImport) -> str:
        if not record.missing_count or record.covers_from is None:
            return str(record.missing_count)
        url = _changelist(
            Conversion,
            verification=str(Verification.MISSING),
            created_at__gte=record.covers_from.isoformat(),
            created_at__lte=record.covers_until.isoformat(),  # type: ignore[union-attr]
        )
        return format_html('<a href="{}">{}</a>', url, record.missing_count)

    @admin.display(description=_("recorded by MCE only"), ordering="mce_only_count")
    def mce_only_rows(self, record: ExtractImport) -> str:
        if not record.mce_only_count or record.covers_from is None:
            return str(record.mce_only_count)
        url = _changelist(
            ExtractedConversion,
            confirms="no",
            event_date__gte=record.covers_from.isoformat(),
            event_date__lte=record.covers_until.isoformat(),  # type: ignore[union-attr]
        )
        return format_html('<a href="{}">{}</a>', url, record.mce_only_count)

    @admin.display(description=_("match rate"))
    def match_rate_display(self, record: ExtractImport) -> str:
        rate = record.match_rate
        return "-" if rate is None else f"{rate:.1%}"

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The upload page, in place of the usual add form.

        Marked CSRF-exempt so that nothing reads the request body before the
        upload handlers are set; the check itself runs in ``_upload``.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            stream_to_disk(request)
        return self._upload(request)

    add_view.csrf_exempt = True  # type: ignore[attr-defined]

    @method_decorator(csrf_protect)
    def _upload(self, request: HttpRequest) -> HttpResponse:
        form = ExtractUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                record = self._import(request, form)
            except ExtractError as exc:
                form.add_error("file", str(exc))
            else:
                return HttpResponseRedirect(
                    reverse(
                        "admin:conversion_tracking_extractimport_change",
                        args=[record.pk],
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": _("Import a Tracking Extract"),
        }
        status = 400 if form.errors else 200
        return TemplateResponse(request, UPLOAD_TEMPLATE, context, status=status)

    def _import(self, request: HttpRequest, form: ExtractUploadForm) -> ExtractImport:
        uploaded: UploadedFile[bytes] = form.cleaned_data["file"]
        with on_disk(uploaded) as path:
            result = import_extract(
                path,
                file_name=uploaded.name,
                zone=form.cleaned_data["time_zone"],
                covers_from=form.in_zone("covers_from"),
                covers_until=form.in_zone("covers_until"),
                imported_by=request.user,
            )
        record = result.extract_import
        if result.duplicate:
            messages.warning(
                request,
                _("This file was already imported (%(name)s): nothing was added.")
                % {"name": record},
            )
        else:
            messages.success(
                request,
                _("Imported %(rows)s rows (%(added)s new) from %(name)s.")
                % {
                    "rows": record.row_count,
                    "added": record.added_count,
                    "name": record.file_name,
                },
            )
        return record


class ConfirmsFilter(admin.SimpleListFilter):
    title = _("confirms a conversion")
    parameter_name = "confirms"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("yes", str(_("yes"))),
            ("no", str(_("no: recorded by MCE only"))),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        rows = cast(ExtractedConversionQuerySet, queryset)
        if self.value() == "yes":
            return rows.confirming()
        if self.value() == "no":
            return rows.mce_only()
        return queryset


@admin.register(ExtractedConversion)
class ExtractedConversionAdmin(AdminBase):
    list_display = (
        "event_date",
        "member_id",
        "job_id",
        "subscriber_id",
        "batch_id",
        "event_type",
        "link_alias",
        "confirmed_conversion",
    )
    list_filter = ("event_date", "event_type", ConfirmsFilter)
    search_fields = ("=job_id", "=subscriber_id", "subscriber_key")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = cast(ExtractedConversionQuerySet, super().get_queryset(request))
        return rows.with_confirmed_conversion()

    @admin.display(description=_("confirmed conversion"))
    def confirmed_conversion(self, row: ExtractedConversion) -> str:
        pk = getattr(row, "confirmed_conversion_id", None)
        if pk is None:
            return str(_("none: recorded by MCE only"))
        url = reverse("admin:conversion_tracking_conversion_change", args=[pk])
        return format_html('<a href="{}">#{}</a>', url, pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ExtractedConversion | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ExtractedConversion | None = None
    ) -> bool:
        return False
