"""A Matrix channel's room id: its shape, and at most 255 characters in each part (the
bound is counted in Python, so the message can give both counts)."""

from __future__ import annotations

import pytest

from publishers.settings import MATRIX_ROOM_PART, ChannelSettings
from publishers.strict_tables import SettingsError


def _matrix(room: str) -> ChannelSettings:
    return ChannelSettings(
        name="m", kind="matrix", matrix_room=room, api_base="https://matrix.example"
    )


@pytest.mark.parametrize(
    "room",
    [
        "!abc123:matrix.org",
        "!hash",  # room version 12: no server part
        "!abc:matrix.example:8448",  # the server part may hold a port
        "!" + "a" * MATRIX_ROOM_PART,
        "!a:" + "b" * MATRIX_ROOM_PART,
        "!" + "a" * MATRIX_ROOM_PART + ":" + "b" * MATRIX_ROOM_PART,
    ],
)
def test_a_room_id_within_its_bounds_is_taken(room: str) -> None:
    assert _matrix(room).matrix_room == room


@pytest.mark.parametrize(
    ("room", "message"),
    [
        ("!" + "a" * (MATRIX_ROOM_PART + 1), "at most 255 characters each, not 256"),
        ("!a:" + "b" * (MATRIX_ROOM_PART + 1), "at most 255 characters each, not 1 and 256"),
        ("#papers:matrix.org", "expected a room id such as"),  # an alias, not an id
        ("!:matrix.org", "expected a room id such as"),
        ("!a b:matrix.org", "expected a room id such as"),
        ("!abc:matrix.org\n", "expected a room id such as"),
    ],
)
def test_a_room_id_out_of_shape_or_bounds_is_refused(room: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        _matrix(room)
    assert refused.value.where == ("matrix_room",)
