"""A plain HTTP GET for the tests that probe the exchange's servers (health, metrics, pages)."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(url: str, timeout: float = 5) -> tuple[int, str, str]:
    """Status, content type and body. An HTTP error status is an answer too; a connection
    refused or timed out (nothing serving yet) is status 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()
    except OSError:
        return 0, "", ""
