"""Frozen dataclasses built at the cost of plain ones (pure: no I/O, no clock).

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__`, around
the class's own `__setattr__` that refuses changes: 1.2 µs for nine fields, against 0.24 µs for
the same class unfrozen (Python 3.11, `timeit`). The tracker builds several such values for
every event it judges (the case step on both sides of the hand-over, held and released steps,
outcomes, step records, rule states), about 9 µs of its work per event.

`quick_init` gives a frozen dataclass an `__init__` that fills the new instance's dictionary
directly: the same parameters, defaults and default factories, in the same order. Everything
else stays the dataclass's own (equality, hashing, `repr`, `dataclasses.replace`), and the
instance is as frozen afterwards. The values stay dataclasses, as the state types of the core
are, rather than becoming `msgspec.Struct`s, whose `replace`, fields and equality differ.

Only what it can do exactly is taken: a class with `__post_init__`, keyword-only or non-init
fields, or fields kept in slots is refused when it is decorated.

`once` is a property worked out on first use and kept in the instance's dictionary, for values
derived from a frozen instance's fields. It is `functools.cached_property` without the lock
that Python 3.11's takes around every first use (one lock for all instances of the class,
removed in 3.12): the values built per event read each such property once or a few times, so
the first use is most of the uses. The core runs on one thread per worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
V = TypeVar("V")

_NO_VALUE = object()  # the default of a parameter whose field has a default factory


def quick_init(cls: type[T]) -> type[T]:
    """Replace the generated `__init__` of the frozen dataclass `cls` (see the module)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{cls.__qualname__}: quick_init takes a frozen dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: quick_init does not call __post_init__")
    if any(getattr(base, "__slots__", ()) for base in cls.__mro__[:-1]):
        raise TypeError(f"{cls.__qualname__}: quick_init fills the instance dict, not slots")
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    parameters: list[str] = []
    lines: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]  # checked above
        name = field.name
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__qualname__}.{name}: quick_init takes positional fields")
        if name in ("self", "values"):
            raise TypeError(f"{cls.__qualname__}.{name}: a name quick_init's __init__ uses")
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
            lines.append(f"    values[{name!r}] = {name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_NO_VALUE")
            lines.append(
                f"    values[{name!r}] = _factory_{name}() if {name} is _NO_VALUE else {name}"
            )
        else:
            parameters.append(name)
            lines.append(f"    values[{name!r}] = {name}")
    source = "\n".join(
        [f"def __init__(self, {', '.join(parameters)}):", "    values = self.__dict__", *lines]
    )
    # The technique of the dataclasses module itself: the function is written from the
    # class's own field names, never from outside input.
    exec(source, namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


class once(Generic[V]):  # used as a decorator, like `property`
    """A property computed on first use and kept in the instance's dictionary (see the
    module); later reads find the kept value without calling the descriptor."""

    def __init__(self, func: Callable[[Any], V]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> once[V]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> V: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> V | once[V]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
