from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from example_project.shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.home, name="home"),
    path("go/winter-sale/", views.email_link, name="email_link"),
    path("offer/", views.offer, name="offer"),
    path("checkout/<str:reference>/", views.checkout, name="checkout"),
    path("checkout/<str:reference>/thanks/", views.thanks, name="thanks"),
    path("session/end/", views.end_session, name="end_session"),
    path("session/ended/", views.session_ended, name="session_ended"),
    path("privacy/", views.privacy, name="privacy"),
    path("mce-stand-in/", include("example_project.mce_stand_in.urls")),
]
