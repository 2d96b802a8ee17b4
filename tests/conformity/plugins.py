"""A class declaring its kwargs with Conformity's own provider decorator, for the class-configuration tests."""

from __future__ import annotations

from conformity import fields as conformity_fields

from tests.unit.schema.plugins import Base


@conformity_fields.ClassConfigurationSchema.provider(
    conformity_fields.Dictionary({"flag": conformity_fields.Boolean()})
)
class ConformityProvided(Base):
    """Declares its kwargs with Conformity's provider decorator."""
