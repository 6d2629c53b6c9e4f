"""The one error a field validator raises, and the machine-readable codes it carries.

A record that fails validation goes to the dead-letter output (FEEDS.md section 6) with a code a
program can count and route, and a message in Chinese and English that a clerk can act on
without reading code. Messages never carry a full identity number: it is personal data, and the
dead letter keeps the raw text for whoever is entitled to see it.
"""

from __future__ import annotations

from enum import StrEnum

from pensionx.errors import PensionxError


class ErrorCode(StrEnum):
    """Why a field was refused. Values are stable: dead-letter consumers count and route by them."""

    USCC_FORMAT = "USCC_FORMAT"
    USCC_CHECK = "USCC_CHECK"
    PERSON_ID_FORMAT = "PERSON_ID_FORMAT"
    PERSON_ID_CHECK = "PERSON_ID_CHECK"
    PERSON_ID_BIRTH_DATE = "PERSON_ID_BIRTH_DATE"
    REGION_CODE = "REGION_CODE"
    PERIOD = "PERIOD"
    DATE = "DATE"
    MONEY_FORMAT = "MONEY_FORMAT"
    MONEY_NEGATIVE = "MONEY_NEGATIVE"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    MISSING_FIELD = "MISSING_FIELD"
    DUPLICATE_COLUMN = "DUPLICATE_COLUMN"
    PHONE = "PHONE"


class InvalidField(PensionxError, ValueError):  # noqa: N818 - the brief's name; reads as a verdict
    """A field's value breaks the contract (FEEDS.md section 1 or 2); the record cannot be accepted.

    It is a ``ValueError`` so generic parsing code that already catches ``ValueError`` keeps
    working, and a ``PensionxError`` so the command line shows its message instead of a traceback.
    """

    code: str
    field: str
    message_zh: str
    message_en: str

    def __init__(self, code: str, field: str, message_zh: str, message_en: str) -> None:
        self.code = str(code)
        self.field = field
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(f"{self.code} {field}: {message_en}")

    def __reduce__(self) -> tuple[type[InvalidField], tuple[str, str, str, str]]:
        # Exceptions pickle as ``cls(*self.args)``, which this signature would break; a process
        # pool replaying a file must be able to send the error back to its parent.
        return (type(self), (self.code, self.field, self.message_zh, self.message_en))
