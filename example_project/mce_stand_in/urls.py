from __future__ import annotations

from django.urls import path

from example_project.mce_stand_in import views

urlpatterns = [
    path("", views.received, name="stand_in_received"),
    path("conversion.aspx", views.conversion, name="stand_in_conversion"),
]
