"""Quicker construction of the frozen, slotted dataclasses made for every order (books, requests, fills, risk contexts).

A frozen dataclass's generated `__init__` stores each field with `object.__setattr__(self, name, value)`, to get
past its own `__setattr__` (which refuses every change); that looks the slot up by its name each time, and for
the backtester, which makes several such objects per order and tens of thousands of orders, it adds up. The slot's
own descriptor stores the value without the lookup: `quick_init` gives the class an `__init__` that does just
that. The object made is the same (same fields and defaults, same frozen `__setattr__`, equality, hash, repr and
pickling); only its making is quicker.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def quick_init(cls: T) -> T:
    """Replace the generated `__init__` of the frozen, slotted dataclass `cls` by one that stores each field
    through its slot's descriptor (same parameters, same order, same defaults).

    Only plain fields are supported (no `default_factory`, `init=False` or `kw_only`) and no `__post_init__`:
    anything else raises TypeError when the class is defined."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init needs a frozen dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick_init does not run __post_init__")
    namespace: dict[str, Any] = {}
    arguments: list[str] = []
    body: list[str] = []
    for field in fields(cls):
        if not field.init or field.kw_only or field.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{field.name}: quick_init supports plain fields only")
        name = field.name
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        if field.default is MISSING:
            arguments.append(name)
        else:
            namespace[f"_default_{name}"] = field.default
            arguments.append(f"{name}=_default_{name}")
        body.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # noqa: S102 - the source is built above from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
