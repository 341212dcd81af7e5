from __future__ import annotations

from django.contrib import admin

from example_project.shop.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["reference", "plan", "quantity", "total", "name", "placed_at"]
    list_filter = ["plan"]
    search_fields = ["reference", "name"]
