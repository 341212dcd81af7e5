"""Read-only admin for the mirror: every captured click and every fired pixel.

Nobody adds or changes mirror rows by hand: they record what the site did.
Deleting stays possible for users holding the delete permission, because a
subscriber's request to be forgotten, or a retention policy, must be honoured;
deleting a conversion lets it fire again while its click is still current.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from django.contrib import admin
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from conversion_tracking.models import ClickThrough, Conversion, Verification
from conversion_tracking.models.mirror import ConversionQuerySet
from conversion_tracking.tracking import MAX_ID

if TYPE_CHECKING:
    MirrorAdminBase = admin.ModelAdmin[Any]
else:
    MirrorAdminBase = admin.ModelAdmin

# Spreadsheet programs evaluate a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TAG = re.compile(r"(<[^>]*>)")
_INDENT = "  "


def csv_cell(value: object) -> object:
    """``value`` made safe for a spreadsheet: text never starts a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def pixel_xml(pixel_url: str) -> str:
    """The XML document a pixel URL carries, or ``""`` when it carries none."""
    pairs = parse_qsl(urlsplit(pixel_url).query, keep_blank_values=True)
    documents = [value for name, value in pairs if name == "xml"]
    return documents[-1] if documents else ""


def indent_xml(xml: str) -> str:
    """The pixel XML one element per line, indented; text is left as written.

    A plain tokenizer rather than an XML parser: the document is the site's own
    and only needs laying out, not interpreting.
    """
    tokens = [token for token in _TAG.split(xml) if token]
    lines: list[str] = []
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        ahead = tokens[index + 1 : index + 3]
        if token.startswith("</"):
            depth = max(depth - 1, 0)
            lines.append(_INDENT * depth + token)
        elif not token.startswith("<") or token.endswith("/>"):
            lines.append(_INDENT * depth + token)
        elif ahead and ahead[0].startswith("</"):
            lines.append(_INDENT * depth + token + ahead[0])
            index += 1
        elif len(ahead) == 2 and "<" not in ahead[0] and ahead[1].startswith("</"):
            lines.append(_INDENT * depth + "".join((token, *ahead)))
            index += 2
        else:
            lines.append(_INDENT * depth + token)
            depth += 1
        index += 1
    return "\n".join(lines)


class ReadOnlyMirrorAdmin(MirrorAdminBase):
    """No adding, no changing; view permission is enough to look and export."""

    csv_fields: tuple[str, ...] = ()
    actions = ["export_csv"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_query(term)), False

    def search_query(self, term: str) -> Q:
        # Only a term that is a valid ID is compared with the ID columns, so that
        # text never reaches an integer comparison the database would refuse.
        if term.isascii() and term.isdigit() and int(term) <= MAX_ID:
            return Q(job_id=int(term)) | Q(subscriber_id=int(term))
        return Q(pk__in=[])

    @admin.action(description=_("Export selected rows as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        name = f"{self.opts.model_name}-{stamp}.csv"
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = csv.writer(response)
        writer.writerow(self.csv_fields)
        rows: Iterable[tuple[Any, ...]] = queryset.values_list(*self.csv_fields)
        writer.writerows([csv_cell(value) for value in row] for row in rows)
        return response


@admin.register(ClickThrough)
class ClickThroughAdmin(ReadOnlyMirrorAdmin):
    list_display = ("captured_at", "job_id", "subscriber_id", "member_id", "path")
    list_filter = ("captured_at", "member_id", "job_id")
    search_fields = ("job_id", "subscriber_id")
    search_help_text = _("A job ID or a subscriber ID.")
    date_hierarchy = "captured_at"
    csv_fields = (
        "id",
        "captured_at",
        "member_id",
        "job_id",
        "subscriber_id",
        "list_id",
        "url_id",
        "batch_id",
        "path",
    )


class VerificationFilter(admin.SimpleListFilter):
    """Conversions by what reconciliation found: ``?verification=missing``."""

    title = _("verification")
    parameter_name = "verification"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in Verification.choices]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        value = self.value()
        if value == str(Verification.PENDING):
            pending: QuerySet[Any] = queryset.filter(verdict__isnull=True)
            return pending
        if value in Verification.values:
            found: QuerySet[Any] = queryset.filter(verdict__status=value)
            return found
        return queryset


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyMirrorAdmin):
    list_display = (
        "created_at",
        "job_id",
        "subscriber_id",
        "alias",
        "amount",
        "reference",
        "verification",
    )
    list_filter = (
        "created_at",
        "alias",
        "member_id",
        "job_id",
        VerificationFilter,
    )
    search_fields = ("job_id", "subscriber_id", "reference")
    search_help_text = _("A job ID, a subscriber ID or a reference.")
    date_hierarchy = "created_at"
    readonly_fields = ("verification", "recorded_at", "pixel", "pixel_url_text")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "created_at",
                    ("verification", "recorded_at"),
                    "alias",
                    "reference",
                )
            },
        ),
        (
            _("Click"),
            {
                "fields": (
                    ("member_id", "job_id", "subscriber_id"),
                    ("list_id", "url_id", "batch_id"),
                    "clicked_at",
                )
            },
        ),
        (_("Pixel"), {"fields": ("link_id", "display_order", "path", "pixel")}),
        (_("Pixel URL"), {"fields": ("pixel_url_text",)}),
    )
    csv_fields = (
        "id",
        "created_at",
        "member_id",
        "job_id",
        "subscriber_id",
        "list_id",
        "url_id",
        "batch_id",
        "clicked_at",
        "link_id",
        "alias",
        "display_order",
        "data",
        "reference",
        "path",
        "verification",
        "recorded_at",
        "pixel_url",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversion]:
        # The list, the page of one conversion and the export all read the
        # verdict through this annotation: one join, no query per row.
        conversions = cast(ConversionQuerySet, super().get_queryset(request))
        return conversions.with_verification()

    def search_query(self, term: str) -> Q:
        return super().search_query(term) | Q(reference__icontains=term)

    @admin.display(description=_("verification"), ordering="verification")
    def verification(self, obj: Conversion) -> str:
        status = str(getattr(obj, "verification", Verification.PENDING))
        return str(dict(Verification.choices).get(status, status))

    @admin.display(description=_("recorded by MCE at"), ordering="recorded_at")
    def recorded_at(self, obj: Conversion) -> str:
        moment: datetime | None = getattr(obj, "recorded_at", None)
        if moment is None:
            return str(self.get_empty_value_display())
        # Formatted here: the admin shows what a method returns as text.
        return str(formats.localize(timezone.localtime(moment)))

    @admin.display(description=_("amount"))
    def amount(self, obj: Conversion) -> str:
        items = obj.data if isinstance(obj.data, list) else []
        return "; ".join(
            f"{item.get('amt', '')} {item.get('unit', '')}".strip()
            for item in items
            if isinstance(item, dict)
        )

    @admin.display(description=_("XML sent to MCE"))
    def pixel(self, obj: Conversion) -> SafeString:
        return format_html("<pre>{}</pre>", indent_xml(pixel_xml(obj.pixel_url)))

    @admin.display(description=_("pixel URL"))
    def pixel_url_text(self, obj: Conversion) -> SafeString:
        # Text, not a link: following it would record the conversion in MCE again.
        return format_html(
            '<code style="word-break:break-all">{}</code>', obj.pixel_url
        )
