"""The arguments of a conversion, as a site gives them, validated for the pixel.

:func:`conversion_arguments` turns what a template or a view passes (strings,
numbers, mappings: untrusted) into a :class:`ConversionArguments` that
:mod:`conversion_tracking.pixel` formats without further checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The alias fits Conversion.alias; MCE's reports show short labels.
MAX_ALIAS_LENGTH = 100
MAX_UNIT_LENGTH = 20
# Pixel URLs travel as one GET request: keep them well below common URL limits.
MAX_DATA_ITEMS = 20
MAX_NUMBER = 2**31 - 1  # the largest positive integer column on every database
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 20
DATA_KEYS = frozenset({"amt", "unit", "accumulate"})

# Characters XML 1.0 cannot carry, and control characters a label has no use for.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_DIGITS = re.compile(r"[0-9]{1,10}")
_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,20})?")


class InvalidConversion(ValueError):
    """Raised when a conversion's arguments cannot become a valid pixel."""


@dataclass(frozen=True, slots=True)
class DataItem:
    """One ``<data>`` element: an amount as plain decimal text, a unit, a flag."""

    amount: str
    unit: str
    accumulate: bool

    def to_json(self) -> dict[str, Any]:
        return {"amt": self.amount, "unit": self.unit, "accumulate": self.accumulate}


@dataclass(frozen=True, slots=True)
class ConversionArguments:
    """What the site says about a conversion, validated."""

    link_id: int
    alias: str
    display_order: int
    items: tuple[DataItem, ...]


def conversion_arguments(
    *,
    alias: object = "",
    link_id: object = 1,
    display_order: object = 1,
    amount: object = None,
    unit: object = None,
    accumulate: object = False,
    data: object = None,
) -> ConversionArguments:
    """Validate a conversion's arguments, or raise :class:`InvalidConversion`.

    ``amount``, ``unit`` and ``accumulate`` describe one data item; ``data`` gives
    several, as mappings with the keys ``amt``, ``unit`` and ``accumulate``. The
    two ways exclude each other.
    """
    if data is not None and amount is not None:
        raise InvalidConversion("give either amount= or data=, not both")
    if data is not None:
        items = _data_items(data)
    elif amount is not None:
        items = (_data_item(amount, unit, accumulate, "amount"),)
    elif unit is not None or accumulate is not False:
        raise InvalidConversion("unit= and accumulate= need an amount=")
    else:
        items = ()
    return ConversionArguments(
        link_id=_positive(link_id, "link_id"),
        alias=check_text(alias, "alias", MAX_ALIAS_LENGTH),
        display_order=_positive(display_order, "display_order"),
        items=items,
    )


def _positive(value: object, name: str) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidConversion(f"{name}: not a positive integer: {value!r:.40}")
    if not 1 <= value <= MAX_NUMBER:
        raise InvalidConversion(f"{name}: must lie between 1 and {MAX_NUMBER}")
    return value


def check_text(value: object, name: str, max_length: int) -> str:
    """``value`` if it is a string short enough and free of control characters."""
    if not isinstance(value, str):
        raise InvalidConversion(f"{name}: not a string: {value!r:.40}")
    if len(value) > max_length:
        raise InvalidConversion(
            f"{name}: {len(value)} characters, more than the {max_length} allowed"
        )
    if _FORBIDDEN.search(value):
        raise InvalidConversion(f"{name}: contains control characters")
    return value


def _amount(value: object, name: str) -> str:
    if isinstance(value, str):
        if not _AMOUNT.fullmatch(value):
            raise InvalidConversion(f"{name}: not a plain decimal: {value!r:.40}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidConversion(f"{name}: not a finite number")
        value = Decimal(repr(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise InvalidConversion(f"{name}: not a number: {value!r:.40}")
    if not value.is_finite():
        raise InvalidConversion(f"{name}: not a finite number")
    exponent = value.as_tuple().exponent
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidConversion(f"{name}: more than {MAX_INTEGER_DIGITS} digits")
    if isinstance(exponent, int) and exponent < -MAX_FRACTION_DIGITS:
        raise InvalidConversion(f"{name}: more than {MAX_FRACTION_DIGITS} decimals")
    return format(value, "f")


def _data_item(amount: object, unit: object, accumulate: object, name: str) -> DataItem:
    if not isinstance(accumulate, bool):
        raise InvalidConversion(f"{name}: accumulate must be True or False")
    unit = "" if unit is None else check_text(unit, f"{name}: unit", MAX_UNIT_LENGTH)
    return DataItem(amount=_amount(amount, name), unit=unit, accumulate=accumulate)


def _data_items(data: object) -> tuple[DataItem, ...]:
    if isinstance(data, str | bytes | Mapping) or not isinstance(data, Iterable):
        raise InvalidConversion("data: not a list of mappings")
    items = []
    for index, entry in enumerate(data):
        name = f"data[{index}]"
        if index >= MAX_DATA_ITEMS:
            raise InvalidConversion(f"data: more than {MAX_DATA_ITEMS} items")
        if not isinstance(entry, Mapping):
            raise InvalidConversion(f"{name}: not a mapping")
        unknown = set(entry) - DATA_KEYS
        if unknown:
            raise InvalidConversion(f"{name}: unknown keys {sorted(map(str, unknown))}")
        if entry.get("amt") is None:
            raise InvalidConversion(f"{name}: amt is missing")
        accumulate = entry.get("accumulate", False)
        items.append(_data_item(entry["amt"], entry.get("unit"), accumulate, name))
    return tuple(items)
