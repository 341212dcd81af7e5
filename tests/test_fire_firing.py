from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_init, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

import conversion_tracking
from conversion_tracking import pixel
from conversion_tracking.firing import conversion_key, fire_conversion
from conversion_tracking.models import Conversion, Verification
from conversion_tracking.pixel_arguments import InvalidConversion, conversion_arguments
from conversion_tracking.signals import conversion_fired
from conversion_tracking.tracking import TrackingSet
from tests.factories import ConversionFactory, verified
from tests.fire_support import make_request, make_tracking

pytestmark = pytest.mark.django_db


@pytest.fixture
def fired() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    conversion_fired.connect(receiver, dispatch_uid="test-fire-firing")
    yield received
    conversion_fired.disconnect(dispatch_uid="test-fire-firing")


def test_fire_records_the_conversion_and_signals_it(
    fired: list[dict[str, Any]],
) -> None:
    tracking = make_tracking()
    request = make_request(tracking, path="/orders/thanks/")

    row = fire_conversion(
        request,
        alias="Order",
        link_id=2,
        display_order=3,
        amount=Decimal("49.90"),
        unit="USD",
        accumulate=True,
        reference=1234,
    )

    assert row is not None
    stored = Conversion.objects.get()
    assert stored.pk == row.pk
    arguments = conversion_arguments(
        alias="Order",
        link_id=2,
        display_order=3,
        amount=Decimal("49.90"),
        unit="USD",
        accumulate=True,
    )
    expected_url = pixel.pixel_url(
        tracking, arguments, base_url="https://click.exacttarget.com/conversion.aspx"
    )
    assert row.pixel_url == stored.pixel_url == expected_url
    assert (stored.member_id, stored.job_id, stored.subscriber_id) == (
        6421787,
        2027714,
        151496521,
    )
    assert (stored.list_id, stored.url_id, stored.batch_id) == (
        "1940_HTML",
        55981221,
        1,
    )
    assert stored.clicked_at == tracking.captured_at
    assert (stored.link_id, stored.alias, stored.display_order) == (2, "Order", 3)
    assert stored.data == [{"amt": "49.90", "unit": "USD", "accumulate": True}]
    assert stored.reference == "1234"
    assert stored.path == "/orders/thanks/"
    assert verified(stored).verification == Verification.PENDING
    assert stored.conversion_key == conversion_key(tracking, 2, "1234")
    assert fired == [
        {
            "signal": conversion_fired,
            "sender": Conversion,
            "request": request,
            "conversion": row,
        }
    ]


def test_the_public_wrapper_fires_too() -> None:
    request = make_request(make_tracking())

    row = conversion_tracking.fire_conversion(
        request, alias="Signup", data=[{"amt": 1}]
    )

    assert row is not None
    assert Conversion.objects.get().data == [
        {"amt": "1", "unit": "", "accumulate": False}
    ]


def test_fire_uses_the_configured_pixel_url(settings: SettingsWrapper) -> None:
    settings.CONVERSION_TRACKING_PIXEL_URL = (
        "https://click.s10.exacttarget.com/conversion.aspx?a=b"
    )

    row = fire_conversion(make_request(make_tracking()))

    assert row is not None
    assert row.pixel_url.startswith(
        "https://click.s10.exacttarget.com/conversion.aspx?a=b&xml=%3Csystem%3E"
    )


def test_the_same_conversion_fires_once(fired: list[dict[str, Any]]) -> None:
    request = make_request(make_tracking())

    assert fire_conversion(request, reference="A-1") is not None
    assert fire_conversion(request, reference="A-1") is None
    assert fire_conversion(request, reference="A-1", alias="Other", amount=5) is None

    assert Conversion.objects.count() == 1
    assert len(fired) == 1


def test_an_integer_reference_is_the_same_as_its_digits() -> None:
    request = make_request(make_tracking())

    assert fire_conversion(request, reference=42) is not None
    assert fire_conversion(request, reference="42") is None


def test_a_new_reference_or_link_id_fires_again() -> None:
    request = make_request(make_tracking())

    assert fire_conversion(request, reference="A-1") is not None
    assert fire_conversion(request, reference="A-2") is not None
    assert fire_conversion(request, reference="A-2", link_id=2) is not None
    assert fire_conversion(request) is not None

    assert Conversion.objects.count() == 4


def test_a_new_click_fires_again() -> None:
    first = make_tracking()
    later = make_tracking(captured_at=first.captured_at + timedelta(minutes=1))

    assert fire_conversion(make_request(first)) is not None
    assert fire_conversion(make_request(later)) is not None


def test_conversion_key_names_click_link_and_reference() -> None:
    tracking = make_tracking()
    keys = {
        conversion_key(tracking, 1, ""),
        conversion_key(tracking, 2, ""),
        conversion_key(tracking, 1, "x"),
        conversion_key(make_tracking(captured_at=tracking.captured_at, jb=None), 1, ""),
        conversion_key(make_tracking(captured_at=tracking.captured_at, u=None), 1, ""),
        conversion_key(make_tracking(captured_at=tracking.captured_at, l=None), 1, ""),
        conversion_key(make_tracking(), 1, ""),
    }

    assert len(keys) == 7
    assert all(len(key) == 64 and int(key, 16) >= 0 for key in keys)
    assert conversion_key(tracking, 1, "") == conversion_key(tracking, 1, "")


def test_no_set_means_no_conversion_and_no_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(0):
        assert fire_conversion(make_request(), amount=5) is None


def test_refused_consent_means_no_conversion_and_no_query(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    request = make_request(make_tracking())
    settings.CONVERSION_TRACKING_CONSENT = lambda request: False

    with django_assert_num_queries(0):
        assert fire_conversion(request) is None


@pytest.mark.parametrize("tracking", [None, make_tracking()])
def test_invalid_arguments_raise_with_or_without_a_set(
    tracking: TrackingSet | None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with (
        django_assert_num_queries(0),
        pytest.raises(InvalidConversion, match="link_id"),
    ):
        fire_conversion(make_request(tracking), link_id=0)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("r" * 256, "reference: 256 characters"),
        (["A-1"], "reference: not a string"),
        (True, "reference: not a string"),
        ("A\x001", "reference: contains control characters"),
    ],
)
def test_invalid_references_are_refused(reference: Any, message: str) -> None:
    with pytest.raises(InvalidConversion, match=message):
        fire_conversion(make_request(make_tracking()), reference=reference)

    assert not Conversion.objects.exists()


def test_fire_in_a_transaction_is_lookup_then_one_insert_in_a_savepoint() -> None:
    request = make_request(make_tracking())

    with CaptureQueriesContext(connection) as queries:
        assert fire_conversion(request, amount=5) is not None

    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    # The test runs inside a transaction, so the insert's atomic block is a
    # savepoint: SAVEPOINT and RELEASE SAVEPOINT frame the single INSERT.
    assert statements == ["SELECT", "SAVEPOINT", "INSERT", "RELEASE"]


@pytest.mark.django_db(transaction=True)
def test_fire_in_autocommit_is_exactly_lookup_and_insert() -> None:
    request = make_request(make_tracking())

    with CaptureQueriesContext(connection) as queries:
        assert fire_conversion(request, amount=5) is not None

    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements == ["SELECT", "INSERT"]


def test_already_fired_costs_one_lookup(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    request = make_request(make_tracking())
    fire_conversion(request)

    with django_assert_num_queries(1):
        assert fire_conversion(request) is None


def lose_the_race_to_a_rival(tracking: TrackingSet) -> Conversion | None:
    """Fire while another request's row lands between the lookup and the insert."""
    key = conversion_key(tracking, 1, "")
    raced: list[bool] = []

    def rival(sender: type[Conversion], instance: Conversion, **kwargs: Any) -> None:
        # post_init: the row is built after the lookup, before the insert.
        if instance.conversion_key == key and not raced:
            raced.append(True)
            Conversion.objects.bulk_create(
                [ConversionFactory.build(conversion_key=key)]
            )

    post_init.connect(rival, sender=Conversion, dispatch_uid="test-fire-rival")
    try:
        return fire_conversion(make_request(tracking))
    finally:
        post_init.disconnect(sender=Conversion, dispatch_uid="test-fire-rival")


def test_losing_the_race_in_a_transaction_keeps_the_transaction_usable(
    fired: list[dict[str, Any]],
) -> None:
    tracking = make_tracking()

    with CaptureQueriesContext(connection) as queries:
        assert lose_the_race_to_a_rival(tracking) is None

    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements[-4:] == ["SAVEPOINT", "INSERT", "ROLLBACK", "RELEASE"]
    assert Conversion.objects.count() == 1
    assert fired == []


@pytest.mark.django_db(transaction=True)
def test_losing_the_race_in_autocommit_returns_none(
    fired: list[dict[str, Any]],
) -> None:
    assert lose_the_race_to_a_rival(make_tracking()) is None

    assert Conversion.objects.count() == 1
    assert fired == []


def test_naive_times_are_stored_when_time_zones_are_off(
    settings: SettingsWrapper,
) -> None:
    tracking = make_tracking()
    settings.USE_TZ = False

    row = fire_conversion(make_request(tracking))

    assert row is not None
    stored = Conversion.objects.get()
    assert timezone.is_naive(stored.clicked_at)
    assert stored.clicked_at == timezone.make_naive(tracking.captured_at)


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs DATABASE_URL to point at PostgreSQL (SQLite serialises writers)",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_fire_once(fired: list[dict[str, Any]]) -> None:
    tracking = make_tracking()
    workers = 2
    both_looked_up = threading.Barrier(workers, timeout=10)
    results: list[Conversion | None] = []
    errors: list[BaseException] = []

    def wait_for_the_other(**kwargs: Any) -> None:
        # Both requests have seen no row: only the unique constraint can decide.
        both_looked_up.wait()

    def fire() -> None:
        try:
            results.append(fire_conversion(make_request(tracking), reference="order-7"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    pre_save.connect(
        wait_for_the_other, sender=Conversion, dispatch_uid="test-fire-race"
    )
    try:
        threads = [threading.Thread(target=fire) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        pre_save.disconnect(sender=Conversion, dispatch_uid="test-fire-race")

    assert errors == []
    assert len(results) == workers
    assert sum(result is not None for result in results) == 1
    assert Conversion.objects.count() == 1
    assert len(fired) == 1
