"""An email channel's addresses: their shape, and at most 64 characters before the @ (the
bound is counted in Python, so the message can give the count)."""

from __future__ import annotations

from typing import Any

import pytest

from publishers.settings import EMAIL_LOCAL_PART, ChannelSettings
from publishers.strict_tables import SettingsError

LONGEST = "a" * EMAIL_LOCAL_PART + "@example.org"
TOO_LONG = "a" * (EMAIL_LOCAL_PART + 1) + "@example.org"


def _email(**fields: Any) -> ChannelSettings:
    values: dict[str, Any] = {
        "email_to": ("list@example.org",),
        "email_from": "digest@example.org",
        "smtp_host": "smtp.example.org",
    }
    values.update(fields)
    return ChannelSettings(name="e", kind="email", **values)


@pytest.mark.parametrize("address", ["list@example.org", "ünïcode@example.org", LONGEST])
def test_an_address_within_its_bounds_is_taken(address: str) -> None:
    channel = _email(email_to=("first@example.org", address), email_from=address)
    assert channel.email_to == ("first@example.org", address)
    assert channel.email_from == address


@pytest.mark.parametrize(
    ("fields", "where", "message"),
    [
        ({"email_to": ("ok@example.org", TOO_LONG)}, ("email_to", 1), "not 65"),
        ({"email_from": TOO_LONG}, ("email_from",), "not 65"),
        ({"email_from": "Digest <d@example.org>"}, ("email_from",), "expected one address such as"),
        ({"email_from": "d@example"}, ("email_from",), "expected one address such as"),
        ({"email_to": ("a b@example.org",)}, ("email_to", 0), "expected one address such as"),
        ({"email_to": ("@example.org",)}, ("email_to", 0), "expected one address such as"),
    ],
)
def test_an_address_out_of_shape_or_bounds_is_refused(
    fields: dict[str, Any], where: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        _email(**fields)
    assert refused.value.where == where
