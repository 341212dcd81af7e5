"""The demo shop's one model: an order of a coffee subscription."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import models


class Plan(models.TextChoices):
    ESPRESSO = "espresso", "Espresso beans, 1 kg a month"
    FILTER = "filter", "Filter roast, 1 kg a month"
    SAMPLER = "sampler", "Sampler, four 250 g bags a month"


PRICES = {
    Plan.ESPRESSO: Decimal("24.00"),
    Plan.FILTER: Decimal("22.50"),
    Plan.SAMPLER: Decimal("29.90"),
}


def new_reference() -> str:
    return f"KC-{secrets.token_hex(4).upper()}"


class Order(models.Model):
    reference = models.CharField(max_length=20, unique=True, default=new_reference)
    plan = models.CharField(max_length=20, choices=Plan.choices)
    quantity = models.PositiveSmallIntegerField(default=1)
    total = models.DecimalField(max_digits=8, decimal_places=2)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    placed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_placed(self) -> bool:
        return self.placed_at is not None
