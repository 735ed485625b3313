"""Whether a failed request can have reached the network decides retry versus look-up."""

from __future__ import annotations

import ssl

import pytest
import requests
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from publishers.networks.transport import never_sent


def _retried(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, "/2/tweets", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.ConnectTimeout("connect timed out"), True),
        (requests.ConnectionError(_retried(NewConnectionError(None, "refused"))), True),  # type: ignore[arg-type]
        (
            requests.exceptions.SSLError(
                _retried(Urllib3SSLError(ssl.SSLCertVerificationError("certificate verify failed")))
            ),
            True,
        ),
        # A TLS error while reading the answer looks the same, minus the certificate:
        # the post may exist, so it must be looked up rather than sent again.
        (requests.exceptions.SSLError(_retried(Urllib3SSLError("record layer failure"))), False),
        (requests.ConnectionError(ProtocolError("Connection aborted.")), False),
        (requests.ReadTimeout(ReadTimeoutError(None, "/", "read timed out")), False),  # type: ignore[arg-type]
        (ValueError("not from requests"), False),
        (None, False),
    ],
)
def test_only_errors_before_the_request_was_written_count_as_never_sent(
    error: BaseException | None, expected: bool
) -> None:
    assert never_sent(error) is expected
