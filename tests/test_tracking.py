from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.core import signing
from hypothesis import given
from hypothesis import strategies as st

from conversion_tracking.tracking import (
    MAX_ID,
    PARAMETER_BY_FIELD,
    SIGNING_SALT,
    InvalidTrackingSet,
    TrackingSet,
    collect,
    parse,
    sign,
    unsign,
)
from tests.factories import LANDING_PARAMETERS as LANDING

CAPTURED_AT = datetime(2026, 11, 26, 15, 4, 5, tzinfo=timezone.utc)
ID_PARAMETERS = ("j", "sfmc_sub", "u", "mid", "jb")
WINDOW = timedelta(days=7)

ids = st.integers(min_value=0, max_value=MAX_ID)
list_ids = st.builds(
    lambda number, suffix: f"{number}{suffix}",
    ids,
    st.one_of(st.just(""), st.from_regex(r"_[A-Za-z]{1,20}", fullmatch=True)),
)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
capture_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
tracking_sets = st.builds(
    TrackingSet,
    member_id=ids,
    job_id=ids,
    subscriber_id=ids,
    list_id=st.none() | list_ids,
    url_id=st.none() | ids,
    batch_id=st.none() | ids,
    captured_at=capture_times,
)
not_ascii_digits = st.text(max_size=40).filter(
    lambda value: re.fullmatch(r"[0-9]+", value) is None
)
unicode_digits = st.text(
    st.characters(categories=["Nd"]).filter(lambda char: not char.isascii()),
    min_size=1,
    max_size=10,
)


def landing(**changes: str | None) -> dict[str, str]:
    values = {**LANDING, **changes}
    return {param: value for param, value in values.items() if value is not None}


def test_parse_a_full_landing() -> None:
    tracking = parse(LANDING, captured_at=CAPTURED_AT)

    assert tracking == TrackingSet(
        member_id=6421787,
        job_id=2027714,
        subscriber_id=151496521,
        list_id="1940_HTML",
        url_id=55981221,
        batch_id=1,
        captured_at=CAPTURED_AT,
    )


def test_parse_keeps_optional_ones_absent() -> None:
    tracking = parse(landing(l=None, u=None, jb=None), captured_at=CAPTURED_AT)

    assert (tracking.list_id, tracking.url_id, tracking.batch_id) == (None, None, None)


@pytest.mark.parametrize("param", ["l", "u", "jb"])
def test_parse_treats_empty_optional_values_as_absent(param: str) -> None:
    tracking = parse(landing(**{param: ""}), captured_at=CAPTURED_AT)

    assert param not in tracking.parameters()


@pytest.mark.parametrize("param", ["j", "sfmc_sub", "mid"])
@pytest.mark.parametrize("value", [None, ""])
def test_parse_refuses_missing_required_ones(param: str, value: str | None) -> None:
    with pytest.raises(InvalidTrackingSet, match=f"^{param}: missing or empty$"):
        parse(landing(**{param: value}), captured_at=CAPTURED_AT)


@pytest.mark.parametrize("param", ID_PARAMETERS)
@pytest.mark.parametrize(
    "value",
    [
        "١٢٣",  # Arabic-Indic digits: str.isdigit() says yes
        "\uff11\uff12\uff13",  # full-width digits
        "²",
        " 123",
        "123 ",
        "1 23",
        "+123",
        "-123",
        "12.5",
        "1e3",
        "0x1F",
        "123\n",
        "12_3",
        "1" * 20,
        "1" * 10_000,
    ],
)
def test_parse_refuses_ids_that_are_not_ascii_digits(param: str, value: str) -> None:
    with pytest.raises(InvalidTrackingSet, match=f"^{param}: not 1 to 19 ASCII digits"):
        parse(landing(**{param: value}), captured_at=CAPTURED_AT)


@pytest.mark.parametrize("param", ID_PARAMETERS)
def test_parse_refuses_ids_beyond_64_bits(param: str) -> None:
    with pytest.raises(InvalidTrackingSet, match=f"^{param}: larger than a 64-bit"):
        parse(landing(**{param: str(2**63)}), captured_at=CAPTURED_AT)


@pytest.mark.parametrize("param", ID_PARAMETERS)
def test_parse_accepts_the_largest_64_bit_id(param: str) -> None:
    tracking = parse(landing(**{param: str(2**63 - 1)}), captured_at=CAPTURED_AT)

    assert tracking.parameters()[param] == str(2**63 - 1)


def test_parse_reads_leading_zeros_as_the_number() -> None:
    tracking = parse(landing(j="0002027714", l="0019_HTML"), captured_at=CAPTURED_AT)

    assert tracking.job_id == 2027714
    assert tracking.list_id == "0019_HTML"


@pytest.mark.parametrize("value", ["1940", "1940_HTML", "1940_text", "0", "7_x"])
def test_parse_keeps_list_ids_exactly(value: str) -> None:
    assert parse(landing(l=value), captured_at=CAPTURED_AT).list_id == value


@pytest.mark.parametrize(
    "value",
    [
        "HTML",
        "_HTML",
        "1940_",
        "1940-HTML",
        "1940_HTML_2",
        "1940_HTML5",
        "1940 HTML",
        "1940_ÄÖ",
        "١٩٤٠_HTML",
        "1940_" + "A" * 21,
        "1" * 20 + "_HTML",
    ],
)
def test_parse_refuses_malformed_list_ids(value: str) -> None:
    with pytest.raises(InvalidTrackingSet, match=r"^l: not digits"):
        parse(landing(l=value), captured_at=CAPTURED_AT)


def test_parse_refuses_list_ids_beyond_64_bits() -> None:
    with pytest.raises(InvalidTrackingSet, match=r"^l: larger than a 64-bit"):
        parse(landing(l=f"{2**63}_HTML"), captured_at=CAPTURED_AT)


def test_reasons_never_name_the_subscriber() -> None:
    with pytest.raises(InvalidTrackingSet) as refused:
        parse(landing(sfmc_sub="151496521x"), captured_at=CAPTURED_AT)

    assert "151496521" not in str(refused.value)


def test_collect_picks_only_mce_parameters() -> None:
    pairs = [("page", "2"), ("j", "1"), ("utm_source", "news"), ("et_rid", "9")]

    assert collect(pairs) == {"j": "1"}


def test_collect_accepts_a_parameter_repeated_with_the_same_value() -> None:
    assert collect([("j", "1"), ("mid", "2"), ("j", "1")]) == {"j": "1", "mid": "2"}


@pytest.mark.parametrize("repeat", ["2", "", " 1"])
def test_collect_refuses_a_parameter_repeated_with_another_value(repeat: str) -> None:
    with pytest.raises(InvalidTrackingSet, match=r"^j: given more than once"):
        collect([("j", "1"), ("j", repeat)])


def test_parameters_follow_mce_order_and_leave_out_absent_ones() -> None:
    tracking = parse(landing(u=None), captured_at=CAPTURED_AT)

    assert list(tracking.parameters().items()) == [
        ("j", "2027714"),
        ("sfmc_sub", "151496521"),
        ("l", "1940_HTML"),
        ("mid", "6421787"),
        ("jb", "1"),
    ]


def test_is_expired_at_the_window_edge() -> None:
    tracking = parse(LANDING, captured_at=CAPTURED_AT)

    assert not tracking.is_expired(WINDOW, now=CAPTURED_AT + WINDOW)
    assert tracking.is_expired(WINDOW, now=CAPTURED_AT + WINDOW + timedelta(seconds=1))


def test_is_expired_uses_the_current_time_by_default() -> None:
    now = datetime.now(timezone.utc)

    assert not parse(LANDING, captured_at=now).is_expired(WINDOW)
    assert parse(LANDING, captured_at=now - timedelta(days=8)).is_expired(WINDOW)


@given(tracking_sets)
def test_payload_round_trip(tracking: TrackingSet) -> None:
    assert TrackingSet.from_payload(tracking.to_payload()) == tracking


@given(tracking_sets)
def test_parameters_round_trip(tracking: TrackingSet) -> None:
    parsed = parse(tracking.parameters(), captured_at=tracking.captured_at)

    assert parsed == tracking


@given(tracking_sets)
def test_sign_round_trip(tracking: TrackingSet) -> None:
    assert unsign(sign(tracking), max_age=WINDOW) == tracking


@given(st.sampled_from(ID_PARAMETERS), not_ascii_digits)
def test_any_id_that_is_not_ascii_digits_is_refused(param: str, value: str) -> None:
    values = landing(**{param: value})
    if value == "" and param not in ("j", "sfmc_sub", "mid"):
        assert param not in parse(values, captured_at=CAPTURED_AT).parameters()
        return

    with pytest.raises(InvalidTrackingSet):
        parse(values, captured_at=CAPTURED_AT)


@given(st.sampled_from(ID_PARAMETERS), unicode_digits)
def test_unicode_digits_are_refused(param: str, value: str) -> None:
    assert value.isdigit()

    with pytest.raises(InvalidTrackingSet):
        parse(landing(**{param: value}), captured_at=CAPTURED_AT)


@given(unicode_digits)
def test_unicode_digits_are_refused_in_list_ids(value: str) -> None:
    with pytest.raises(InvalidTrackingSet):
        parse(landing(l=f"{value}_HTML"), captured_at=CAPTURED_AT)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "6421787",
        {"member_id": 6421787},
        [6421787, 2027714, 151496521, "1940_HTML", 55981221, 1],
        [6421787, 2027714, 151496521, "1940_HTML", 55981221, 1, "x", "y"],
        (
            6421787,
            2027714,
            151496521,
            "1940_HTML",
            55981221,
            1,
            CAPTURED_AT.isoformat(),
        ),
        [6421787, 2027714, 151496521, "1940_HTML", 55981221, True, "2026-11-26"],
        [6421787, 2027714, 151496521, "1940_HTML", 5.5, 1, CAPTURED_AT.isoformat()],
        [6421787, 2027714, 151496521, ["1940"], 55981221, 1, CAPTURED_AT.isoformat()],
        [None, 2027714, 151496521, "1940_HTML", 55981221, 1, CAPTURED_AT.isoformat()],
        [-1, 2027714, 151496521, "1940_HTML", 55981221, 1, CAPTURED_AT.isoformat()],
        [2**63, 2027714, 151496521, None, None, None, CAPTURED_AT.isoformat()],
        [6421787, "x", 151496521, None, None, None, CAPTURED_AT.isoformat()],
        [6421787, 2027714, 151496521, None, None, None, None],
        [6421787, 2027714, 151496521, None, None, None, 1764169445],
        [6421787, 2027714, 151496521, None, None, None, "yesterday"],
        [6421787, 2027714, 151496521, None, None, None, "2026-11-26T15:04:05"],
    ],
)
def test_from_payload_refuses_malformed_payloads(payload: object) -> None:
    with pytest.raises(InvalidTrackingSet):
        TrackingSet.from_payload(payload)


def test_from_payload_accepts_ids_stored_as_strings() -> None:
    payload = [
        "6421787",
        "2027714",
        "151496521",
        1940,
        None,
        None,
        "2026-11-26T15:04:00+00:00",
    ]

    tracking = TrackingSet.from_payload(payload)

    assert (tracking.member_id, tracking.list_id) == (6421787, "1940")


def test_unsign_refuses_a_tampered_token() -> None:
    token = sign(parse(LANDING, captured_at=CAPTURED_AT))
    value, _, signature = token.rpartition(":")

    with pytest.raises(InvalidTrackingSet, match="bad signature"):
        unsign(f"{value}:{signature[::-1]}", max_age=WINDOW)


def test_unsign_refuses_a_token_signed_for_another_purpose() -> None:
    token = signing.dumps(parse(LANDING, captured_at=CAPTURED_AT).to_payload())

    with pytest.raises(InvalidTrackingSet, match="bad signature"):
        unsign(token, max_age=WINDOW)


class BackdatedSigner(signing.TimestampSigner):
    """Signs as if eight days ago, to make a token older than the window."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 8 * 24 * 3600)


def test_unsign_refuses_an_expired_token() -> None:
    payload = parse(LANDING, captured_at=CAPTURED_AT).to_payload()
    token = BackdatedSigner(salt=SIGNING_SALT).sign_object(payload, compress=True)

    assert unsign(token, max_age=timedelta(days=9)).job_id == 2027714
    with pytest.raises(InvalidTrackingSet, match="expired"):
        unsign(token, max_age=WINDOW)


@pytest.mark.parametrize("token", ["", "x" * 1025, "not-a-token", "a:b:c"])
def test_unsign_refuses_garbage(token: str) -> None:
    with pytest.raises(InvalidTrackingSet):
        unsign(token, max_age=WINDOW)


def test_unsign_refuses_a_signed_payload_that_does_not_validate() -> None:
    token = signing.dumps([1, 2, 3], salt=SIGNING_SALT, compress=True)

    with pytest.raises(InvalidTrackingSet, match="malformed payload"):
        unsign(token, max_age=WINDOW)


def test_parameter_names_are_mce_names() -> None:
    assert set(PARAMETER_BY_FIELD.values()) == {"j", "sfmc_sub", "l", "u", "mid", "jb"}
