"""What a card number looks like: one Luhn check for both the service's free-text screening
(service/service_layer/free_text.py refuses them) and the log redactor (common/logs.py)."""

from __future__ import annotations


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum card numbers carry."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
