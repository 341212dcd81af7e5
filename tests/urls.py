from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

from conversion_tracking import get_tracking


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


def current(request: HttpRequest) -> HttpResponse:
    tracking = get_tracking(request)
    return HttpResponse("none" if tracking is None else repr(tracking.parameters()))


def redirecting(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/plain/")


async def async_current(request: HttpRequest) -> HttpResponse:
    from asgiref.sync import sync_to_async

    tracking = await sync_to_async(get_tracking)(request)
    return HttpResponse("none" if tracking is None else repr(tracking.parameters()))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("plain/", plain),
    path("current/", current),
    path("redirect/", redirecting),
    path("async-current/", async_current),
]
