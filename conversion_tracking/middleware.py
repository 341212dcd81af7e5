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


def _before_view(request: HttpRequest) -> HttpResponseBase | None:
    if is_landing(request):
        return capture_from_query(request)
    restore_from_hidden_field(request)
    return None


def _needs_work(request: HttpRequest) -> bool:
    return is_landing(request) or may_carry_hidden_field(request)


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
        if _needs_work(request):
            response = _before_view(request)
            if response is not None:
                return response
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if _needs_work(request):
            response = await sync_to_async(_before_view)(request)
            if response is not None:
                return response
        return await self.get_response(request)  # type: ignore[no-any-return,misc]
