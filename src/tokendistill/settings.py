"""Settings declared once, as dataclass fields, and everything else made from that declaration.

A settings dataclass (``TrainConfig``, an attribution method's options) declares each setting with
``setting()``: its default, its help text and how the config file and the command line show it; its
bounds and choices are in its type (``PositiveInt``, ``Literal["zero", "pad"]``, ``dict[str,
PositiveFloat]``), where pydantic reads them too. From that one declaration come

* the checks the dataclass makes when it is built (``check_settings``, called from ``__post_init__``),
* the command-line flags (``add_setting_arguments``) and the values they give (``settings_from_args``),
* the experiment config's YAML fields (``tokendistill.experiment.config`` builds its pydantic sections from
  ``config_settings``),

so a setting cannot have a flag without a YAML field, or another default in one of them.

This module imports neither torch nor pydantic (bounds are ``annotated_types``' ``Ge``, ``Gt``, ``Le``,
``Lt``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Iterator
from dataclasses import MISSING, dataclass
from typing import Annotated, Any, Literal, Union

from annotated_types import Ge, Gt, Le, Lt

PositiveInt = Annotated[int, Ge(1)]
NonNegativeInt = Annotated[int, Ge(0)]
# Finite: an infinite learning rate or weight passes a lower bound and fails only once training starts.
PositiveFloat = Annotated[float, Gt(0), Lt(math.inf)]
NonNegativeFloat = Annotated[float, Ge(0), Lt(math.inf)]
Fraction = Annotated[float, Ge(0), Le(1)]
# What transformers.set_seed (numpy's seeding) takes; anything else fails only once training starts.
Seed = Annotated[int, Ge(0), Le(2**32 - 1)]

NONE_WORDS = ("none", "null")  # what a flag of an optional setting takes for None


@dataclass(frozen=True)
class Setting:
    """How one setting is shown besides its dataclass field (see ``setting``)."""

    help: str
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    in_config: bool = True
    dump_default: bool = True
    changes_result: bool = True


def setting(
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    help: str,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    metavar: str | None = None,
    in_config: bool = True,
    dump_default: bool = True,
    changes_result: bool = True,
) -> Any:
    """A dataclass field declaring one setting.

    ``help`` is the flag's help and the YAML field's description. ``flag`` replaces the flag made from the
    name (``batch_size`` -> ``--batch-size``): a repeatable flag names one item (``--training-arg``);
    ``aliases`` keeps old spellings working; ``metavar`` names the flag's value in ``--help``.
    ``in_config=False``: the experiment config has no YAML field for it, because the run decides it.
    ``dump_default=False``: the YAML field is left out of the config's dump (so of stage fingerprints)
    while it has its default; for settings added after runs were fingerprinted, so those runs stay up to
    date. ``changes_result=False``: it changes only speed or memory, so the experiment plan leaves it out
    of stage fingerprints (for attribution methods' options).
    """
    meta = Setting(help, flag, aliases, metavar, in_config, dump_default, changes_result)
    return dataclasses.field(default=default, default_factory=factory, metadata={"setting": meta})


@dataclass(frozen=True)
class Declared:
    """One declared setting: its dataclass field, its ``Setting`` and its resolved type."""

    field: dataclasses.Field
    setting: Setting
    type: Any

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def default(self) -> Any:
        if self.field.default_factory is not MISSING:
            return self.field.default_factory()
        return self.field.default

    @property
    def flags(self) -> list[str]:
        return [self.setting.flag or "--" + self.name.replace("_", "-"), *self.setting.aliases]


@functools.cache
def declared_settings(cls: type) -> tuple[Declared, ...]:
    """The settings of the dataclass ``cls``, in declaration order; every field must be a ``setting()``."""
    hints = typing.get_type_hints(cls, include_extras=True)
    found = []
    for field in dataclasses.fields(cls):
        meta = field.metadata.get("setting")
        if meta is None:
            raise TypeError(f"{cls.__name__}.{field.name} is not declared with setting()")
        found.append(Declared(field, meta, hints[field.name]))
    return tuple(found)


def config_settings(cls: type) -> list[Declared]:
    """The settings of ``cls`` that the experiment config has a YAML field for."""
    return [item for item in declared_settings(cls) if item.setting.in_config]


# --- types -----------------------------------------------------------------------------------------------


def _split_annotated(kind: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[int, Ge(1)]`` -> ``(int, (Ge(1),))``; other types come back with no bounds."""
    if typing.get_origin(kind) is Annotated:
        base, *extras = typing.get_args(kind)
        return base, tuple(extras)
    return kind, ()


def optional_type(kind: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; other types -> ``(type, False)``."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        members = [member for member in typing.get_args(kind) if member is not type(None)]
        if len(members) == 1 and len(typing.get_args(kind)) == 2:
            return members[0], True
    return kind, False


def choices_of(kind: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` type (under ``Annotated`` or ``| None`` too), else None."""
    base, _ = _split_annotated(optional_type(kind)[0])
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def describe_choices(choices: tuple[Any, ...]) -> str:
    spelled = [repr(choice) for choice in choices]
    return ", ".join(spelled[:-1]) + " or " + spelled[-1] if len(spelled) > 1 else spelled[0]


def _bound_problem(value: Any, bounds: tuple[Any, ...]) -> str | None:
    for bound in bounds:
        if isinstance(bound, Ge) and not value >= bound.ge:
            return f"must be at least {bound.ge}"
        if isinstance(bound, Gt) and not value > bound.gt:
            return f"must be > {bound.gt}"
        if isinstance(bound, Le) and not value <= bound.le:
            return f"must be at most {bound.le}"
        if isinstance(bound, Lt) and not value < bound.lt:
            return "must be finite" if bound.lt == math.inf else f"must be < {bound.lt}"
    return None


def value_problems(kind: Any, value: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(where, problem, value)`` for each bound or choice of ``kind`` that ``value`` (or an item of it)
    breaks: ``where`` is empty for the value itself and ``[key]`` for an item of a mapping. Types are not
    checked; pydantic checks them in the config, argparse on the command line."""
    kind, optional = optional_type(kind)
    if value is None and optional:
        return
    base, bounds = _split_annotated(kind)
    choices = choices_of(base)
    if choices is not None:
        # A bool is not taken for 1 or 0 (True == 1, so ``in`` alone would take it).
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
            yield where, f"must be {describe_choices(choices)}", value
        return
    problem = _bound_problem(value, bounds) if isinstance(value, int | float) else None
    if problem:
        yield where, problem, value
    if typing.get_origin(base) is dict and isinstance(value, dict):
        item_kind = typing.get_args(base)[1]
        for key, item in value.items():
            yield from value_problems(item_kind, item, f"{where}[{key!r}]")


def check_settings(instance: Any) -> None:
    """Raise ``ValueError`` naming the first setting of ``instance`` outside its bounds or choices."""
    name = type(instance).__name__
    for item in declared_settings(type(instance)):
        for where, problem, value in value_problems(item.type, getattr(instance, item.name)):
            raise ValueError(f"{name}.{item.name}{where} {problem}, got {value!r}")


# --- command-line flags ----------------------------------------------------------------------------------


def flag_type(kind: Any) -> Any:
    """A function from a flag's text to the value (``none`` for None when ``kind`` is optional), raising
    ``ArgumentTypeError`` with the problem."""
    inner, optional = optional_type(kind)
    base, _ = _split_annotated(inner)
    convert = {int: int, float: float, str: str}.get(base)
    if convert is None:
        raise TypeError(f"no command-line form for settings of type {kind!r}")

    def parse(text: str) -> Any:
        if optional and text.lower() in NONE_WORDS:
            return None
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {base.__name__}, got {text!r}") from None
        for _, problem, _ in value_problems(kind, value):
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return value

    parse.__name__ = base.__name__  # argparse names the type in its own messages
    return parse


def _json_or_text(text: str) -> Any:
    """A ``KEY=VALUE`` value: JSON when it parses (numbers, true/false, null, lists), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pair_parser(value_kind: Any) -> Any:
    parse_value = _json_or_text if value_kind is Any else flag_type(value_kind)

    def parse(text: str) -> tuple[str, Any]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        return key, parse_value(value)

    parse.__name__ = "KEY=VALUE"
    return parse


def _flag_text(value: Any) -> str:
    return "none" if value is None else str(value)


def add_setting_arguments(group: Any, cls: type, *, prefix: str = "", only_given: bool = False) -> None:
    """Add a flag for every setting of ``cls`` to ``group`` (a parser or an argument group), with the
    declared default; ``settings_from_args`` reads them back. The flags' destinations are the field names
    (behind ``prefix``, which also goes before each flag's name: ``--lora-r`` for ``r``). ``only_given``:
    a flag left out sets nothing (``--help`` still shows the declared default), so ``settings_from_args``
    gives only the flags that were given."""
    for item in declared_settings(cls):
        flags = [flag.replace("--", "--" + prefix.replace("_", "-"), 1) for flag in item.flags]
        dest = prefix + item.name
        base, optional = optional_type(item.type)
        base, _ = _split_annotated(base)
        choices = choices_of(item.type)
        origin = typing.get_origin(base)
        help_text = item.setting.help
        if base is bool:
            action = group.add_argument(
                *flags, dest=dest, action=argparse.BooleanOptionalAction, default=item.default, help=help_text
            )
        elif choices is not None:
            (kind,) = {type(choice) for choice in choices}
            action = group.add_argument(
                *flags,
                dest=dest,
                type=kind,
                choices=choices,
                default=item.default,
                help=f"{help_text} (default: {item.default})",
            )
        elif origin is dict:
            action = group.add_argument(
                *flags,
                dest=dest,
                action="append",
                type=_pair_parser(typing.get_args(base)[1]),
                default=[],
                metavar="KEY=VALUE",
                help=f"{help_text} (repeatable)",
            )
        elif origin in (tuple, list):
            action = group.add_argument(
                *flags,
                dest=dest,
                action="append",
                type=flag_type(typing.get_args(base)[0]),
                default=[],
                metavar=item.setting.metavar,
                help=f"{help_text} (repeatable)",
            )
        else:
            metavar = ("N" if base is int else "X") + ("|none" if optional else "")
            action = group.add_argument(
                *flags,
                dest=dest,
                type=flag_type(item.type),
                default=item.default,
                metavar=item.setting.metavar or (metavar if base is not str else None),
                help=f"{help_text} (default: {_flag_text(item.default)})",
            )
        if only_given:  # set after add_argument, so the help still shows the declared default
            action.default = argparse.SUPPRESS


def settings_from_args(args: argparse.Namespace, cls: type, *, prefix: str = "") -> dict[str, Any]:
    """The values of ``cls``'s flags (``add_setting_arguments``) as keyword arguments of ``cls``; with
    ``only_given`` flags, those that were given."""
    values: dict[str, Any] = {}
    for item in declared_settings(cls):
        if not hasattr(args, prefix + item.name):
            continue
        value = getattr(args, prefix + item.name)
        origin = typing.get_origin(_split_annotated(optional_type(item.type)[0])[0])
        if origin in (dict, tuple, list):  # a repeatable flag: its items, or the default when not given
            value = origin(value) if value else item.default
        values[item.name] = value
    return values
