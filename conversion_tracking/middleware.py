"""The middleware that captures MCE's parameters on landing requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from conversion_tracking.capture import (
    capture_from_query,
    is_landing,
    may_carry_hidden_field,
    restore_from_hidden_field,
)

_Work = Callable[[HttpRequest], HttpResponseBase | None]


def _work_for(request: HttpRequest) -> _Work | None:
    """What the request needs done before its view, or ``None`` (the usual case)."""
    if request.method == "GET":
        return capture_from_query if is_landing(request) else None
    return restore_from_hidden_field if may_carry_hidden_field(request) else None


class ConversionTrackingMiddleware:
    """Capture MCE's tracking parameters into the session, before the view runs.

    Place it after ``SessionMiddleware``. A request that carries none of the
    parameters (and no hidden tracking field) passes through untouched: the
    session is not loaded, so no cookie is set and no ``Vary`` header added.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(
        self, request: HttpRequest
    ) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        work = _work_for(request)
        if work is not None:
            response = work(request)
            if response is not None:
                return response
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        work = _work_for(request)
        if work is not None:
            response = await sync_to_async(work)(request)
            if response is not None:
                return response
        return await self.get_response(request)  # type: ignore[no-any-return,misc]
