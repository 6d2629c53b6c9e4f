"""Masking of resident identity numbers in any text meant for a log line or a non-auditor.

An identity number (GB 11643-1999: 17 digits and a digit or X) is personal data; a log line
keeps only what an operator needs to tell two people apart in one incident: the issuing region
(first 6) and the last 4 characters.
"""

from __future__ import annotations

import re

# 18 characters bounded by non-digits, so a longer digit run (an account number, a timestamp
# in ms) is left alone rather than half-masked.
_IDENTITY_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")


def mask_identity_numbers(text: str) -> str:
    """Replace the birth date and sequence digits of every identity number in ``text``."""
    return _IDENTITY_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)[-4:]}", text)
