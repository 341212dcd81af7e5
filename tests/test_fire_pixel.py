from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given
from hypothesis import strategies as st

from conversion_tracking.pixel import build_xml, pixel_url
from conversion_tracking.pixel_arguments import (
    MAX_ALIAS_LENGTH,
    MAX_DATA_ITEMS,
    ConversionArguments,
    DataItem,
    InvalidConversion,
    conversion_arguments,
)
from conversion_tracking.tracking import TrackingSet

NOW = datetime(2026, 11, 26, 15, 4, 5, tzinfo=timezone.utc)
BASE = "https://click.exacttarget.com/conversion.aspx"
FULL = TrackingSet(
    member_id=6421787,
    job_id=2027714,
    subscriber_id=151496521,
    list_id="1940_HTML",
    url_id=55981221,
    batch_id=1,
    captured_at=NOW,
)
BARE = TrackingSet(
    member_id=6421787,
    job_id=2027714,
    subscriber_id=151496521,
    list_id=None,
    url_id=None,
    batch_id=None,
    captured_at=NOW,
)


def xml_of(url: str) -> str:
    documents = parse_qs(urlsplit(url).query, keep_blank_values=True)["xml"]
    assert len(documents) == 1
    return documents[0]


def test_xml_matches_mce_layout_exactly() -> None:
    arguments = conversion_arguments(
        alias="Signup", amount=Decimal("49.90"), unit="USD", accumulate=True
    )

    assert build_xml(FULL, arguments) == (
        "<system><system_name>tracking</system_name><action>conversion</action>"
        "<member_id>6421787</member_id><job_id>2027714</job_id>"
        "<sub_id>151496521</sub_id><list>1940_HTML</list>"
        "<original_link_id>55981221</original_link_id><BatchID>1</BatchID>"
        "<conversion_link_id>1</conversion_link_id><link_alias>Signup</link_alias>"
        "<display_order>1</display_order>"
        '<data_set><data amt="49.90" unit="USD" accumulate="true"/></data_set>'
        "</system>"
    )


def test_absent_ids_leave_their_elements_out_and_no_data_gives_an_empty_set() -> None:
    xml = build_xml(BARE, conversion_arguments(link_id=3, display_order=2))

    assert xml == (
        "<system><system_name>tracking</system_name><action>conversion</action>"
        "<member_id>6421787</member_id><job_id>2027714</job_id>"
        "<sub_id>151496521</sub_id>"
        "<conversion_link_id>3</conversion_link_id><link_alias></link_alias>"
        "<display_order>2</display_order><data_set></data_set></system>"
    )


def test_several_data_items_in_order_unit_left_out_when_absent() -> None:
    arguments = conversion_arguments(
        data=[
            {"amt": 10, "unit": "USD", "accumulate": True},
            {"amt": "2.5"},
            {"amt": Decimal("-1"), "unit": "EUR", "accumulate": False},
        ]
    )

    assert build_xml(BARE, arguments).split("<data_set>")[1] == (
        '<data amt="10" unit="USD" accumulate="true"/>'
        '<data amt="2.5" accumulate="false"/>'
        '<data amt="-1" unit="EUR" accumulate="false"/>'
        "</data_set></system>"
    )


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("49.90"), "49.90"),
        (Decimal("1E-5"), "0.00001"),
        (0.1, "0.1"),
        (1e14, "100000000000000.0"),
        (7, "7"),
        ("12.50", "12.50"),
        ("-3", "-3"),
    ],
)
def test_amounts_are_plain_decimals(amount: Any, text: str) -> None:
    arguments = conversion_arguments(amount=amount)

    assert arguments.items == (DataItem(amount=text, unit="", accumulate=False),)
    assert f'<data amt="{text}" accumulate="false"/>' in build_xml(FULL, arguments)


def test_hostile_values_are_escaped_and_round_trip() -> None:
    alias = "Säle & <b>\"Spring\"</b> 'Ωmega'"
    arguments = conversion_arguments(alias=alias, amount=1, unit='<&">')

    root = fromstring(xml_of(pixel_url(FULL, arguments, base_url=BASE)))

    assert root.findtext("link_alias") == alias
    data = root.find("data_set/data")
    assert data is not None
    assert data.attrib == {"amt": "1", "unit": '<&">', "accumulate": "false"}


def test_pixel_url_carries_exactly_the_xml_percent_encoded() -> None:
    arguments = conversion_arguments(alias="A b&c", amount=5, unit="USD")

    url = pixel_url(FULL, arguments, base_url=BASE)

    assert url.startswith(BASE + "?xml=%3Csystem%3E%3Csystem_name%3Etracking")
    assert " " not in url
    assert "&" not in url
    assert xml_of(url) == build_xml(FULL, arguments)


def test_pixel_url_keeps_the_configured_query_and_fragment() -> None:
    base = "https://click.s7.exacttarget.com/conversion.aspx?brand=x&v=2#top"

    url = pixel_url(FULL, conversion_arguments(), base_url=base)

    parts = urlsplit(url)
    assert url.startswith(
        "https://click.s7.exacttarget.com/conversion.aspx?brand=x&v=2&xml="
    )
    assert parts.fragment == "top"
    assert xml_of(url) == build_xml(FULL, conversion_arguments())


def test_alias_at_the_limit_is_accepted_and_one_more_refused() -> None:
    assert conversion_arguments(alias="a" * MAX_ALIAS_LENGTH).alias == "a" * 100

    with pytest.raises(InvalidConversion, match="alias: 101 characters"):
        conversion_arguments(alias="a" * (MAX_ALIAS_LENGTH + 1))


def test_numbers_given_as_digit_strings_are_accepted() -> None:
    arguments = conversion_arguments(link_id="12", display_order="3")

    assert (arguments.link_id, arguments.display_order) == (12, 3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"link_id": 0}, "link_id: must lie between"),
        ({"link_id": -1}, "link_id: must lie between"),
        ({"link_id": 2**31}, "link_id: must lie between"),
        ({"link_id": "abc"}, "link_id: not a positive integer"),
        ({"link_id": "1.5"}, "link_id: not a positive integer"),
        ({"link_id": 1.0}, "link_id: not a positive integer"),
        ({"link_id": True}, "link_id: not a positive integer"),
        ({"link_id": None}, "link_id: not a positive integer"),
        ({"display_order": 0}, "display_order: must lie between"),
        ({"display_order": ""}, "display_order: not a positive integer"),
        ({"alias": 5}, "alias: not a string"),
        ({"alias": "bad\x00"}, "alias: contains control characters"),
        ({"alias": "two\nlines"}, "alias: contains control characters"),
        ({"amount": "abc"}, "amount: not a plain decimal"),
        ({"amount": "1e5"}, "amount: not a plain decimal"),
        ({"amount": " 5"}, "amount: not a plain decimal"),
        ({"amount": float("nan")}, "amount: not a finite number"),
        ({"amount": float("inf")}, "amount: not a finite number"),
        ({"amount": Decimal("NaN")}, "amount: not a finite number"),
        ({"amount": Decimal("-Infinity")}, "amount: not a finite number"),
        ({"amount": Decimal("1E+15")}, "amount: more than 15 digits"),
        ({"amount": Decimal("1E-21")}, "amount: more than 20 decimals"),
        ({"amount": True}, "amount: not a number"),
        ({"amount": [1]}, "amount: not a number"),
        ({"amount": 1, "accumulate": "true"}, "accumulate must be True or False"),
        ({"amount": 1, "unit": "x" * 21}, "unit: 21 characters"),
        ({"amount": 1, "unit": 3}, "unit: not a string"),
        ({"unit": "USD"}, "need an amount"),
        ({"accumulate": True}, "need an amount"),
        ({"amount": 1, "data": []}, "not both"),
        ({"data": "amt=1"}, "data: not a list of mappings"),
        ({"data": {"amt": 1}}, "data: not a list of mappings"),
        ({"data": 5}, "data: not a list of mappings"),
        ({"data": [5]}, r"data\[0\]: not a mapping"),
        (
            {"data": [{"amt": 1}, {"amount": 1}]},
            r"data\[1\]: unknown keys \['amount'\]",
        ),
        ({"data": [{"unit": "USD"}]}, r"data\[0\]: amt is missing"),
        ({"data": [{"amt": "x"}]}, r"data\[0\]: not a plain decimal"),
        ({"data": [{"amt": 1}] * (MAX_DATA_ITEMS + 1)}, "more than 20 items"),
    ],
)
def test_invalid_arguments_are_refused_clearly(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConversion, match=message):
        conversion_arguments(**arguments)


def test_up_to_the_item_limit_is_accepted() -> None:
    arguments = conversion_arguments(data=[{"amt": 1}] * MAX_DATA_ITEMS)

    assert len(arguments.items) == MAX_DATA_ITEMS


def test_empty_data_is_an_empty_data_set() -> None:
    assert conversion_arguments(data=()) == ConversionArguments(
        link_id=1, alias="", display_order=1, items=()
    )


# Text XML 1.0 can carry and the validation lets through: no control characters.
labels = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"
    )
)
amounts = st.decimals(
    min_value=Decimal("-99999999999999"),
    max_value=Decimal("99999999999999"),
    allow_nan=False,
    allow_infinity=False,
    places=4,
)
items = st.fixed_dictionaries(
    {"amt": amounts},
    optional={
        "unit": labels.filter(lambda text: 0 < len(text) <= 20),
        "accumulate": st.booleans(),
    },
)


@given(
    alias=labels.filter(lambda text: len(text) <= MAX_ALIAS_LENGTH),
    link_id=st.integers(1, 2**31 - 1),
    display_order=st.integers(1, 2**31 - 1),
    data=st.lists(items, max_size=5),
    tracking=st.sampled_from([FULL, BARE]),
)
def test_xml_parsed_back_from_the_url_equals_the_input(
    alias: str,
    link_id: int,
    display_order: int,
    data: list[dict[str, Any]],
    tracking: TrackingSet,
) -> None:
    arguments = conversion_arguments(
        alias=alias, link_id=link_id, display_order=display_order, data=data
    )

    root: Element = fromstring(xml_of(pixel_url(tracking, arguments, base_url=BASE)))

    assert root.tag == "system"
    assert root.findtext("action") == "conversion"
    assert root.findtext("member_id") == str(tracking.member_id)
    assert root.findtext("job_id") == str(tracking.job_id)
    assert root.findtext("sub_id") == str(tracking.subscriber_id)
    assert root.findtext("list") == tracking.list_id
    assert root.findtext("BatchID") == (
        None if tracking.batch_id is None else str(tracking.batch_id)
    )
    assert root.findtext("conversion_link_id") == str(link_id)
    assert root.findtext("link_alias") == alias
    assert root.findtext("display_order") == str(display_order)
    parsed = [element.attrib for element in root.iterfind("data_set/data")]
    assert len(parsed) == len(data)
    for attributes, item in zip(parsed, data, strict=True):
        assert Decimal(attributes["amt"]) == item["amt"]
        assert "E" not in attributes["amt"]
        assert attributes.get("unit") == item.get("unit")
        assert attributes["accumulate"] == str(item.get("accumulate", False)).lower()
