from __future__ import annotations

from django import forms

from example_project.shop.models import Plan


class PlanForm(forms.Form):
    plan = forms.ChoiceField(choices=Plan.choices, initial=Plan.ESPRESSO)
    quantity = forms.IntegerField(min_value=1, max_value=5, initial=1)


class DetailsForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name on the parcel")
