"""Settings classes read strictly from TOML tables: frozen dataclasses that check their values.

Why not a validation library: pydantic, which did this before, was the largest import of an
idle ``shortscience run`` (about 9 MB of its memory and a tenth of its start-up, issue 21),
and the settings need little of it: a handful of value types, bounds, lengths and patterns,
and one clear line for the first wrong value. Strict as config.toml is read: "5" is not 5,
1 is not true, a misspelt key is an error.

A class declares its fields with annotations (``Annotated[int, Bounds(ge=1)]``) and
defaults, and may add checks over several fields in ``_check``.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

Where = tuple[str | int, ...]


def dotted(where: Where) -> str:
    """``("email_to", 0)`` -> ``email_to[0]``: a key path as a reader of the table sees it."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class SettingsError(ValueError):
    """One refused value: where it is (keys and list indexes) and what was wrong with it."""

    def __init__(
        self, where: Where, message: str, *, unknown: str | None = None, known: tuple[str, ...] = ()
    ) -> None:
        self.where = where
        self.message = message
        self.unknown = unknown
        """A key the table has no field for; ``known`` then lists those it has."""
        self.known = known
        super().__init__(f"{dotted(where)}: {message}" if where else message)

    def inside(self, *outer: str | int) -> SettingsError:
        """The same error, seen from a table that holds this one at ``outer``."""
        return SettingsError(
            (*outer, *self.where), self.message, unknown=self.unknown, known=self.known
        )


@dataclass(frozen=True)
class Bounds:
    """A number's limits, each inclusive (``ge``, ``le``) or exclusive (``gt``)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None


@dataclass(frozen=True)
class Length:
    """Characters of a text, or items of a list."""

    min: int = 0
    max: int | None = None


@dataclass(frozen=True)
class Pattern:
    """The whole text must match (a trailing newline too, unlike ``$`` with ``re.match``)."""

    regex: str
    shape: str | None = None
    """What a matching text is, for the message (``an address such as "a@example.org"``);
    without it the message quotes the pattern."""
    compiled: re.Pattern[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))


@dataclass(frozen=True)
class HttpUrl:
    """An http or https URL with a host (and a valid port, and no spaces)."""

    example: str
    """A good value, for the message."""


class StrictTable:
    """Base of the settings classes: ``@dataclass(frozen=True, init=False)`` subclasses.

    Built from keywords (a TOML table, or code); every value given is checked against its
    field's annotation, the rest take their defaults, then ``_check`` runs. Which keys were
    given is kept (``keys_given``): a key may be wrong for a kind even at its default value.
    """

    def __init__(self, **given: Any) -> None:
        fields = _fields(type(self))
        for key in given:
            if key not in fields:
                raise SettingsError(
                    (),
                    f'unknown key "{key}"; expected one of: {", ".join(fields)}',
                    unknown=key,
                    known=tuple(fields),
                )
        values = self.__dict__  # a frozen dataclass refuses setattr, not its own dict
        for name, (hint, default) in fields.items():
            values[name] = _convert(hint, given[name], (name,)) if name in given else default()
        values["_keys_given"] = frozenset(given)
        self._check()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field, in the order the class declares them."""
        return tuple(_fields(cls))

    @property
    def keys_given(self) -> frozenset[str]:
        """The keys set when it was built (or by ``updated``), defaults left out."""
        given: frozenset[str] = self.__dict__["_keys_given"]
        return given

    def updated(self, **changes: Any) -> Self:
        """A copy with some values changed by the wiring, which checks them itself: no
        check runs (a channel previewed as an outbox keeps its e-mail keys)."""
        fields = _fields(type(self))
        wrong = [key for key in changes if key not in fields]
        if wrong:
            raise AttributeError(f"{type(self).__name__} has no field {wrong[0]!r}")
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        copy.__dict__["_keys_given"] = self.keys_given | changes.keys()
        return copy

    def as_table(self) -> dict[str, Any]:
        """The keys given, as TOML or JSON holds them (paths as text, tuples as lists);
        ``type(self)(**table)`` builds the same settings again."""
        return {key: _plain(getattr(self, key)) for key in sorted(self.keys_given)}

    def _check(self) -> None:
        """Checks over several fields, after each value passed its own; raise SettingsError."""

    def _set(self, name: str, value: Any) -> None:
        """Store a normalised value (``_check`` of a frozen class)."""
        self.__dict__[name] = value


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, StrictTable):
        return value.as_table()
    return value


FieldSpecs = dict[str, tuple[Any, Callable[[], Any]]]
_FIELDS: dict[type[StrictTable], FieldSpecs] = {}


def _fields(cls: type[StrictTable]) -> FieldSpecs:
    """Each field's annotation and a maker of its default, read once per class."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls, include_extras=True)
    found: FieldSpecs = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.default is not dataclasses.MISSING:
            default: Callable[[], Any] = _constant(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory
        else:
            default = _required(field.name)
        found[field.name] = (hints[field.name], default)
    _FIELDS[cls] = found
    return found


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _required(name: str) -> Callable[[], Any]:
    def missing() -> Any:
        raise SettingsError((name,), "is required; set it")

    return missing


_TYPE_WORDS = {bool: "a valid boolean", int: "a valid integer", float: "a valid number"}


@cache
def _shape(hint: Any) -> tuple[Any, Any, tuple[Any, ...], tuple[Any, ...]]:
    """An annotation taken apart once: the type, its origin, its rules and its arguments
    (``X | None`` -> ``X`` and ``None`` among the arguments)."""
    rules: tuple[Any, ...] = ()
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        rules = tuple(extras)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return inner, Union, rules, ()
    return hint, origin, rules, get_args(hint)


def _convert(hint: Any, value: Any, where: Where) -> Any:
    """The value, checked against its annotation (and made a tuple, a Path, a table)."""
    hint, origin, rules, arguments = _shape(hint)
    if origin is Union:
        return None if value is None else _convert(hint, value, where)
    if origin is Literal:
        choices = arguments
        if not isinstance(value, str) or value not in choices:
            quoted = [repr(choice) for choice in choices]
            listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
            raise SettingsError(where, f"expected {listed}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise SettingsError(where, f"expected a list, got {value!r}")
        item = arguments[0]
        items = [_convert(item, each, (*where, index)) for index, each in enumerate(value)]
        converted: Any = tuple(items) if origin is tuple else items
    elif origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping) or not all(
            isinstance(key, str) and isinstance(each, str) for key, each in value.items()
        ):
            raise SettingsError(
                where, f'expected a table of texts such as {{ key = "value" }}, got {value!r}'
            )
        converted = dict(value)
    elif isinstance(hint, type) and issubclass(hint, StrictTable):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise SettingsError(where, f"expected a table, got {value!r}")
        try:
            return hint(**value)
        except SettingsError as error:
            raise error.inside(*where) from None
    elif hint is Path:
        if not isinstance(value, str | Path):
            raise SettingsError(where, f"expected a path, got {value!r}")
        converted = Path(value)
    elif hint is str:
        if not isinstance(value, str):
            raise SettingsError(where, f"expected a text, got {value!r}")
        converted = value
    elif hint in _TYPE_WORDS:
        # bool is an int in Python, never in a config file; an int is a fine float.
        wanted = (int, float) if hint is float else hint
        if isinstance(value, bool) is not (hint is bool) or not isinstance(value, wanted):
            raise SettingsError(where, f"expected {_TYPE_WORDS[hint]}, got {value!r}")
        converted = float(value) if hint is float else value
    else:  # pragma: no cover - a settings class declared a type this module does not read
        raise TypeError(f"{dotted(where)}: no reader for {hint!r}")
    for rule in rules:
        _apply(rule, converted, where)
    return converted


def _apply(rule: Any, value: Any, where: Where) -> None:
    if isinstance(rule, Bounds):
        if rule.ge is not None and value < rule.ge:
            raise SettingsError(
                where, f"expected greater than or equal to {rule.ge}, got {value!r}"
            )
        if rule.gt is not None and value <= rule.gt:
            raise SettingsError(where, f"expected greater than {rule.gt}, got {value!r}")
        if rule.le is not None and value > rule.le:
            raise SettingsError(where, f"expected less than or equal to {rule.le}, got {value!r}")
    elif isinstance(rule, Length):
        unit = "character" if isinstance(value, str) else "item"
        if len(value) < rule.min:
            least = f"{rule.min} {unit}{'s' if rule.min != 1 else ''}"
            raise SettingsError(where, f"expected at least {least}, got {len(value)}")
        if rule.max is not None and len(value) > rule.max:
            most = f"{rule.max} {unit}{'s' if rule.max != 1 else ''}"
            raise SettingsError(where, f"expected at most {most}, got {len(value)}")
    elif isinstance(rule, Pattern) and not rule.compiled.fullmatch(value):
        wanted = rule.shape or f"text matching {rule.regex}"
        raise SettingsError(where, f"expected {wanted}, got {value!r}")
    elif isinstance(rule, HttpUrl) and not _http_url(value):
        raise SettingsError(
            where, f'expected an http or https URL such as "{rule.example}", got "{value}"'
        )


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(character.isspace() for character in value)
    )
