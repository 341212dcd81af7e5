"""The demo shop: an offer an email links to, a two-step checkout, a thank-you page.

The views know nothing about tracking: the middleware captures the email click,
and the templates carry and fire it with the app's tags. Only the demo panel at
the foot of each page asks ``get_tracking`` what the session holds.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from conversion_tracking import get_tracking
from example_project.shop.consent import CONSENT_COOKIE
from example_project.shop.forms import DetailsForm, PlanForm
from example_project.shop.models import PRICES, Order, Plan

CONSENT_MAX_AGE = 180 * 24 * 3600
# An address held in a variable, to show the template filter beside the tag.
STORES_URL = "https://stores.example.com/find/?country=us"


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    return render(
        request, template, {**(context or {}), "tracking": get_tracking(request)}
    )


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _render(request, "shop/home.html")


@require_GET
def email_link(request: HttpRequest) -> HttpResponseRedirect:
    """The campaign address in the newsletter: it forwards to the offer and,
    as many such addresses do, drops the query string on the way."""
    return redirect("offer")


@require_http_methods(["GET", "POST"])
def offer(request: HttpRequest) -> HttpResponse:
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        plan = Plan(form.cleaned_data["plan"])
        quantity = form.cleaned_data["quantity"]
        order = Order.objects.create(
            plan=plan, quantity=quantity, total=PRICES[plan] * quantity
        )
        return redirect("checkout", reference=order.reference)
    plans = [(plan, PRICES[plan]) for plan in Plan]
    context = {"form": form, "plans": plans, "stores_url": STORES_URL}
    return _render(request, "shop/offer.html", context)


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, reference: str) -> HttpResponse:
    order = get_object_or_404(Order, reference=reference)
    if order.is_placed:
        return redirect("thanks", reference=order.reference)
    form = DetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        order.name = form.cleaned_data["name"]
        order.placed_at = timezone.now()
        order.save(update_fields=["name", "placed_at"])
        return redirect("thanks", reference=order.reference)
    return _render(request, "shop/checkout.html", {"form": form, "order": order})


@require_GET
def thanks(request: HttpRequest, reference: str) -> HttpResponse:
    order = get_object_or_404(Order, reference=reference)
    if not order.is_placed:
        return redirect("checkout", reference=order.reference)
    return _render(request, "shop/thanks.html", {"order": order})


@require_http_methods(["GET", "POST"])
def end_session(request: HttpRequest) -> HttpResponse:
    """Flush the session, as a logout or an expired session would.

    Only the session goes: the CSRF cookie stays, so a form still open in another
    tab can be sent, and its signed hidden field brings the tracking set back.
    """
    if request.method == "POST":
        request.session.flush()
        return redirect("session_ended")
    return _render(request, "shop/end_session.html")


@require_GET
def session_ended(request: HttpRequest) -> HttpResponse:
    return _render(request, "shop/session_ended.html")


@require_http_methods(["GET", "POST"])
def privacy(request: HttpRequest) -> HttpResponse:
    """A minimal cookie banner: records the visitor's marketing-cookie choice."""
    choice = request.POST.get("marketing")
    if request.method == "POST" and choice in {"yes", "no"}:
        response = redirect("privacy")
        response.set_cookie(
            CONSENT_COOKIE, choice, max_age=CONSENT_MAX_AGE, samesite="Lax"
        )
        return response
    current = request.COOKIES.get(CONSENT_COOKIE)
    return _render(request, "shop/privacy.html", {"choice": current})
