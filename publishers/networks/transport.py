"""The HTTP transport boundary the network clients share.

What a client decides from HTTP itself, whatever the network: when ``Retry-After`` or an
epoch-seconds reset header says to come back, and keeping credentials out of messages.
For the clients built on requests (X, Facebook, Mastodon), also whether a failed request
can have reached the server; Bluesky's SDK speaks httpx, whose connect errors are types of
their own (``bluesky._NOTHING_SENT``). What a network's answers mean (its error codes,
rate-limit buckets, wording) stays in that network's module.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import SSLError as Urllib3SSLError


def never_sent(error: BaseException | None) -> bool:
    """Whether a requests failure happened before the request was written, so a retry
    cannot make a second post.

    A refused or timed-out connect, a failed name look-up or a certificate that fails
    verification come before the first byte of the request. requests raises them as
    ``ConnectTimeout``, ``SSLError``, or a ``ConnectionError`` around urllib3's
    ``MaxRetryError`` whose reason is a ``ConnectTimeoutError`` (``NewConnectionError`` and
    ``NameResolutionError`` are subclasses). Other TLS errors are not counted: urllib3
    reports one met while reading the answer the same way as one met in the handshake,
    and the first may follow a post that was made. A connection dropped after sending
    (``ProtocolError``) or a ``ReadTimeout`` may have created the post, and so may anything
    not from requests.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.SSLError):
        return _certificate_refused(error)
    if not isinstance(error, requests.RequestException) or not error.args:
        return False
    reason = error.args[0]
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, Urllib3SSLError):
        return _certificate_refused(reason)
    return isinstance(reason, ConnectTimeoutError)


def _certificate_refused(error: BaseException) -> bool:
    """Whether a TLS error's causes include a certificate verification failure."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        pending += [*current.args, current.__cause__, current.__context__]
        if isinstance(current, MaxRetryError):
            pending.append(current.reason)
    return False


def retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When ``Retry-After`` says to try again: seconds from ``now``, or an HTTP date.

    None when the header is missing, negative, out of range or unreadable, so that the
    caller's own wait applies. The name is looked up in lower case: requests' and httpx's
    headers ignore case, and the atproto SDK hands them over lower-cased in a plain dict.
    """
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        if seconds < 0:
            return None
        try:
            return now + timedelta(seconds=seconds)
        except OverflowError:
            return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def epoch_time(value: object) -> datetime | None:
    """A reset header in epoch seconds (X's ``x-rate-limit-reset``, Bluesky's
    ``ratelimit-reset``) as an aware UTC time; None when missing or unreadable.

    Fractions of a second are dropped, as the networks send whole seconds.
    """
    seconds = _finite(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def redact(text: str, secrets: Iterable[str], mark: str = "<token>") -> str:
    """``text`` with every credential replaced by ``mark``: networks sometimes quote what
    they were sent, and no message may carry a credential (see ``base``).

    Longer secrets go first, so one that contains another is not left half shown.
    """
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, mark)
    return text


def _finite(value: object) -> float | None:
    """A header's number, or None when it is missing or not a finite number."""
    if value is None:
        return None
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
