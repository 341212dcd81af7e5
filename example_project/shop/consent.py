"""A consent callable for ``CONVERSION_TRACKING_CONSENT``, as a site would write it.

The demo leaves consent off. Set ``CONVERSION_TRACKING_CONSENT`` to
``example_project.shop.consent.marketing_cookies_accepted`` to track only visitors
whose cookie banner choice (the ``marketing_consent`` cookie) is "yes".
"""

from __future__ import annotations

from django.http import HttpRequest

CONSENT_COOKIE = "marketing_consent"


def marketing_cookies_accepted(request: HttpRequest) -> bool:
    return request.COOKIES.get(CONSENT_COOKIE) == "yes"
