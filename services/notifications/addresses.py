"""E-mail addresses, checked by a real parser (email-validator), not by a few characters.

A hand-written check ("has @, no CR/LF/NUL/space") let through U+2028, \\x0b, \\x1c and \\x85,
which Python's e-mail headers treat as line breaks: the message could not be composed, and
the delivery worker died on it. email-validator follows the RFCs (and refuses unsafe
Unicode); deliverability (DNS) is not checked: an address is the member's to give.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

EMAIL_MAX = 254


class InvalidAddress(ValueError):
    """Not an address we can send to; the message never repeats the address."""


def email_address(raw: str) -> str:
    """The normalised address (domain lower-cased, IDNA-checked), or InvalidAddress."""
    if len(raw) > EMAIL_MAX:
        raise InvalidAddress(f"an e-mail address has at most {EMAIL_MAX} characters")
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as e:
        raise InvalidAddress(str(e)) from None
    return checked.normalized
