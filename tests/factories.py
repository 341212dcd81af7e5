"""factory_boy factories for the app's models."""

from __future__ import annotations

import factory
from django.utils import timezone

from conversion_tracking.models import ClickThrough, Conversion


class ClickThroughFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClickThrough

    member_id = 6421787
    job_id = factory.Sequence(lambda n: 2027714 + n)
    subscriber_id = factory.Sequence(lambda n: 151496521 + n)
    list_id = "1940_HTML"
    url_id = 55981221
    batch_id = 1
    path = "/offer/"
    captured_at = factory.LazyFunction(timezone.now)


class ConversionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversion

    member_id = 6421787
    job_id = factory.Sequence(lambda n: 2027714 + n)
    subscriber_id = factory.Sequence(lambda n: 151496521 + n)
    list_id = "1940_HTML"
    url_id = 55981221
    batch_id = 1
    clicked_at = factory.LazyFunction(timezone.now)
    link_id = 1
    alias = "Signup"
    display_order = 1
    data = factory.LazyFunction(list)
    reference = ""
    pixel_url = "https://click.exacttarget.com/conversion.aspx?xml=..."
    path = "/thanks/"
    created_at = factory.LazyFunction(timezone.now)
    conversion_key = factory.Sequence(lambda n: f"{n:064x}")
