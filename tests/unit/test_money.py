import pytest

from service.domain.errors import InvalidArgument
from service.domain.money import MAX_AMOUNT, exponent, normalize_currency, validate_amount

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("code, expected", [("usd", "USD"), ("EUR", "EUR"), (" jpy ", "JPY")])
def test_currency_codes_are_normalized(code, expected):
    assert normalize_currency(code) == expected


@pytest.mark.parametrize("code", ["", "US", "USDD", "XYZ", "123", "€"])
def test_unknown_currencies_name_the_field(code):
    with pytest.raises(InvalidArgument) as raised:
        normalize_currency(code)
    assert raised.value.field == "currency"


@pytest.mark.parametrize("currency, digits", [("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("CLF", 4)])
def test_minor_unit_exponents(currency, digits):
    assert exponent(currency) == digits


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 10**30])
def test_amounts_must_be_positive_and_bounded(amount):
    with pytest.raises(InvalidArgument, match="amount"):
        validate_amount(amount)


@pytest.mark.parametrize("amount", [1.5, "100", True])
def test_amounts_must_be_integers(amount):
    with pytest.raises(InvalidArgument, match="integer"):
        validate_amount(amount)


def test_largest_amount_is_accepted():
    assert validate_amount(MAX_AMOUNT) == MAX_AMOUNT

