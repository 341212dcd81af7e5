"""The upload form of extracts, and getting an upload onto disk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversion_tracking.conf import conf


class ExtractUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Extract file"),
        help_text=_("The Tracking Extract's ZIP file, or its Conversions.csv."),
    )
    time_zone = forms.CharField(
        label=_("Time zone of EventDate"),
        max_length=64,
        help_text=_("An IANA name: Etc/GMT+6 is MCE's system time (UTC-6 all year)."),
    )
    covers_from = forms.DateTimeField(
        label=_("Covers from"),
        required=False,
        help_text=_("In the extract's time zone. Default: its first EventDate."),
    )
    covers_until = forms.DateTimeField(
        label=_("Covers until"),
        required=False,
        help_text=_("In the extract's time zone. Default: its last EventDate."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].initial = str(conf.EXTRACT_TIME_ZONE)

    def clean_time_zone(self) -> ZoneInfo:
        name = self.cleaned_data["time_zone"]
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                _("Not a known time zone: use an IANA name such as Etc/GMT+6.")
            ) from None

    def in_zone(self, field: str) -> datetime | None:
        """A covered-range field read in the extract's time zone, not the site's."""
        value: datetime | None = self.cleaned_data.get(field)
        if value is None:
            return None
        return timezone.make_naive(value).replace(tzinfo=self.cleaned_data["time_zone"])


def stream_to_disk(request: HttpRequest) -> None:
    """Make the upload go to a temporary file, however small it is."""
    # When a middleware has read the body first, Django refuses new handlers;
    # its default ones have then kept any file larger than
    # FILE_UPLOAD_MAX_MEMORY_SIZE on disk already.
    with suppress(AttributeError):
        request.upload_handlers = [TemporaryFileUploadHandler(request)]


@contextmanager
def on_disk(uploaded: UploadedFile[bytes]) -> Iterator[str]:
    """The path of the uploaded file on disk, copying it there if need be."""
    if hasattr(uploaded, "temporary_file_path"):
        yield uploaded.temporary_file_path()
        return
    with tempfile.NamedTemporaryFile(suffix=".upload") as copy:
        uploaded.seek(0)
        shutil.copyfileobj(uploaded, copy)
        copy.flush()
        yield copy.name
