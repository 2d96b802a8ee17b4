"""Importable classes that the class-configuration tests point at by path."""

from __future__ import annotations

from typing import Any

from pysoa_like.common import fields


class Base:
    """The base class the tests require."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@fields.ClassConfigurationSchema.provider(
    fields.Dictionary({"size": fields.Integer(gte=1), "name": fields.UnicodeString()}, optional_keys=("name",))
)
class OurProvided(Base):
    """Declares its kwargs with our provider decorator."""


class Undeclared(Base):
    """Declares no kwargs schema."""


class Unrelated:
    """Not a subclass of Base."""


class Outer:
    """Holds a nested class, reachable only with the colon path form."""

    class Inner(Base):
        """A nested plug-in."""


@fields.ClassConfigurationSchema.provider(
    fields.Dictionary({"child": fields.ClassConfigurationSchema(base_class=Base)})
)
class Parent(Base):
    """Takes another class configuration as a kwarg."""


NOT_A_CLASS = 42
