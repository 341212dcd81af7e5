"""The stand-in for MCE's ``conversion.aspx``, and a page listing what it got."""

from __future__ import annotations

import base64
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from example_project.mce_stand_in.models import ReceivedConversion
from example_project.mce_stand_in.pixel import RejectedPixel, read_pixel

logger = logging.getLogger(__name__)

TRANSPARENT_GIF = base64.b64decode(
    "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
)


@never_cache
@require_GET
def conversion(request: HttpRequest) -> HttpResponse:
    """Record one pixel request and answer with a 1x1 GIF, as MCE does.

    A request without exactly one ``xml`` parameter, or whose XML is not a
    conversion, gets a 400 naming the problem and stores nothing.
    """
    documents = request.GET.getlist("xml")
    if len(documents) != 1:
        return _refuse("expected exactly one xml parameter")
    try:
        fields = read_pixel(documents[0])
    except RejectedPixel as exc:
        return _refuse(str(exc))
    ReceivedConversion.objects.create(**fields)
    return HttpResponse(TRANSPARENT_GIF, content_type="image/gif")


@require_GET
def received(request: HttpRequest) -> HttpResponse:
    conversions = ReceivedConversion.objects.all()[:200]
    return render(request, "mce_stand_in/received.html", {"conversions": conversions})


def _refuse(reason: str) -> HttpResponseBadRequest:
    logger.info("The MCE stand-in refused a pixel request: %s", reason)
    return HttpResponseBadRequest(
        f"Refused: {reason}.\n", content_type="text/plain; charset=utf-8"
    )
