"""Money: integer amounts in a currency's minor units, and ISO 4217 currencies.

Amounts are never floats. A currency's exponent says how many minor units make
a major one (2 for USD cents, 0 for JPY, 3 for KWD); it matters to people
reading amounts, not to arithmetic, which is always on integers.
"""

from __future__ import annotations

from .errors import InvalidArgument

# Largest amount accepted, in minor units (Stripe's own ceiling for charges).
MAX_AMOUNT = 99_999_999_999

_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **{code: 2 for code in _TWO_DECIMAL.split()},
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
    **{code: 4 for code in _FOUR_DECIMAL.split()},
}


def normalize_currency(code: str, field: str = "currency") -> str:
    """Return the upper-case ISO 4217 code, or raise InvalidArgument."""
    if not code:
        raise InvalidArgument(field, "is required (an ISO 4217 code such as USD)")
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise InvalidArgument(field, f"{code[:8]!r} is not an ISO 4217 currency code")
    return upper


def exponent(currency: str) -> int:
    """Minor-unit exponent of a currency (2 for USD, 0 for JPY)."""
    return CURRENCY_EXPONENTS[currency]


def validate_amount(amount: int, field: str = "amount") -> int:
    """Check a positive amount in minor units, no larger than MAX_AMOUNT."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidArgument(field, "must be an integer number of minor units")
    if amount <= 0:
        raise InvalidArgument(field, "must be a positive integer number of minor units")
    if amount > MAX_AMOUNT:
        raise InvalidArgument(field, f"must be at most {MAX_AMOUNT} minor units")
    return amount

