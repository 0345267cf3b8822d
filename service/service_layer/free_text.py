"""Free text a merchant sends (descriptions, metadata, reasons, customer ids, dispute evidence):
no card numbers, no control characters.

- A card number (PAN) must never be stored or logged: a Luhn-valid run of 13
  to 19 digits, written together or in groups separated by spaces or dashes,
  anywhere in the text is refused. Groups are tried as a whole and as every
  run of consecutive groups, so "4242424242424242 12/25" is caught; digits
  inside a longer unbroken number are not (an order number is not a card).
- Control characters (C0 and C1, DEL) are refused, which covers ANSI escape
  sequences (ESC, CSI): they rewrite a terminal that shows a log or a
  dashboard. Multi-line fields (a description, evidence text) may hold tab,
  line feed and carriage return.

The refusal names the field and never echoes the value.
"""

from __future__ import annotations

import re

from common.cards import luhn_valid

from ..domain.errors import InvalidArgument

_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]\d+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
PAN_LENGTHS = range(13, 20)


def contains_pan(text: str) -> bool:
    """Whether `text` holds a Luhn-valid 13-19 digit card number (see the module docstring)."""
    for match in _DIGIT_GROUPS.finditer(text):
        groups = re.split(r"[ -]", match.group())
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > max(PAN_LENGTHS):
                    break
                if len(digits) in PAN_LENGTHS and luhn_valid(digits):
                    return True
    return False


def screen(field: str, value: str, *, multiline: bool = False) -> None:
    """InvalidArgument(field) if `value` holds a card number or a control character."""
    if not value:
        return
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        allowed = " (tab and line breaks are allowed)" if multiline else ""
        raise InvalidArgument(field, f"must not contain control characters or terminal escape sequences{allowed}")
    if any(char.isdigit() for char in value) and contains_pan(value):
        raise InvalidArgument(field, "looks like it contains a card number; card data must never be sent here")
