"""factory_boy factories for the app's models."""

from __future__ import annotations

from urllib.parse import urlencode

import factory
from django.utils import timezone

from conversion_tracking.models import ClickThrough, Conversion, Verdict, Verification

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
        skip_postgeneration_save = True

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

    @factory.post_generation
    def verification(
        obj: Conversion, create: bool, status: str | None, **_: object
    ) -> None:
        """``verification="missing"`` (or ``"confirmed"``, with its
        ``recorded_at`` at the time of firing) gives the conversion a verdict."""
        if create and status and status != Verification.PENDING:
            recorded = obj.created_at if status == Verification.CONFIRMED else None
            Verdict.objects.create(conversion=obj, status=status, recorded_at=recorded)


def verified(item: Conversion) -> Conversion:
    """``item`` read again, with its ``verification`` and ``recorded_at``."""
    return Conversion.objects.with_verification().get(pk=item.pk)
