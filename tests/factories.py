"""factory_boy factories for the app's models."""

from __future__ import annotations

from urllib.parse import urlencode

import factory
from django.utils import timezone

from conversion_tracking.models import ClickThrough, Conversion

# The parameters of a real landing URL, in the order MCE appends them.
LANDING_PARAMETERS = {
    "j": "2027714",
    "sfmc_sub": "151496521",
    "l": "1940_HTML",
    "u": "55981221",
    "mid": "6421787",
    "jb": "1",
}
LANDING_QUERY = urlencode(LANDING_PARAMETERS)


class TrackingIdsFactory(factory.django.DjangoModelFactory):
    member_id = 6421787
    job_id = factory.Sequence(lambda n: 2027714 + n)
    subscriber_id = factory.Sequence(lambda n: 151496521 + n)
    list_id = "1940_HTML"
    url_id = 55981221
    batch_id = 1


class ClickThroughFactory(TrackingIdsFactory):
    class Meta:
        model = ClickThrough

    path = "/offer/"
    captured_at = factory.LazyFunction(timezone.now)


class ConversionFactory(TrackingIdsFactory):
    class Meta:
        model = Conversion

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
