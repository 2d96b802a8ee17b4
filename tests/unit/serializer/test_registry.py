"""The Serializer base class and its MIME-type registry."""

from __future__ import annotations

import datetime
import zlib
from typing import Any

import pytest

from pysoa_like.common import serializer as serializer_package
from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer, Serializer
from pysoa_like.common.serializer.errors import InvalidMessage


def _make_serializer(
    mime_type: Any, name: str = "Custom", base_class: type[Serializer] = Serializer
) -> type[Serializer]:
    def dict_to_blob(self: Serializer, message_dict: dict[Any, Any]) -> bytes:
        return repr(message_dict).encode()

    def blob_to_dict(self: Serializer, blob: bytes) -> dict[Any, Any]:
        return {"blob": blob}

    return type(
        name, (base_class,), {"mime_type": mime_type, "dict_to_blob": dict_to_blob, "blob_to_dict": blob_to_dict}
    )


def test_builtin_serializers_are_registered() -> None:
    """The msgpack and JSON serializers are registered under their MIME types."""
    assert {"application/msgpack", "application/json"} <= Serializer.all_supported_mime_types
    assert isinstance(Serializer.all_supported_mime_types, frozenset)
    assert MsgpackSerializer.mime_type == "application/msgpack"
    assert JSONSerializer.mime_type == "application/json"


def test_resolve_serializer_returns_a_new_instance_each_time() -> None:
    """resolve_serializer returns a fresh instance of the registered class."""
    first = Serializer.resolve_serializer("application/msgpack")
    second = Serializer.resolve_serializer("application/msgpack")
    assert type(first) is MsgpackSerializer
    assert first is not second
    assert type(Serializer.resolve_serializer("application/json")) is JSONSerializer


def test_resolve_unknown_mime_type_names_it_and_the_known_ones() -> None:
    """An unknown MIME type raises ValueError naming it and every supported MIME type."""
    with pytest.raises(ValueError, match="not supported") as info:
        Serializer.resolve_serializer("application/x-nope")
    assert "'application/x-nope'" in str(info.value)
    assert "application/json" in str(info.value)
    assert "application/msgpack" in str(info.value)


def test_subclass_with_custom_mime_type_registers_itself(throwaway_mime_types: list[str]) -> None:
    """Creating a subclass with a new MIME type registers it and updates all_supported_mime_types."""
    throwaway_mime_types.append("application/x-test-custom")
    before = Serializer.all_supported_mime_types
    custom = _make_serializer("application/x-test-custom")
    assert "application/x-test-custom" not in before
    assert "application/x-test-custom" in Serializer.all_supported_mime_types
    resolved = Serializer.resolve_serializer("application/x-test-custom")
    assert type(resolved) is custom
    assert resolved.dict_to_blob({"a": 1}) == b"{'a': 1}"


def test_duplicate_mime_type_is_refused(throwaway_mime_types: list[str]) -> None:
    """A second class claiming a registered MIME type fails at class creation, naming both classes."""
    throwaway_mime_types.append("application/x-test-duplicate")
    first = _make_serializer("application/x-test-duplicate", name="FirstSerializer")
    with pytest.raises(ValueError, match="already supports it") as info:
        _make_serializer("application/x-test-duplicate", name="SecondSerializer")
    assert "FirstSerializer" in str(info.value)
    assert "SecondSerializer" in str(info.value)
    assert type(Serializer.resolve_serializer("application/x-test-duplicate")) is first


def test_redefining_a_builtin_mime_type_is_refused() -> None:
    """A custom class cannot take over application/msgpack."""
    with pytest.raises(ValueError, match="application/msgpack"):
        _make_serializer("application/msgpack")
    assert type(Serializer.resolve_serializer("application/msgpack")) is MsgpackSerializer


@pytest.mark.parametrize("mime_type", [None, "", "   "])
def test_blank_mime_type_is_not_registered(mime_type: str | None) -> None:
    """Subclasses with a missing or blank MIME type (abstract helpers) are not registered."""
    before = Serializer.all_supported_mime_types
    _make_serializer(mime_type)
    assert Serializer.all_supported_mime_types == before


def test_inherited_mime_type_does_not_register_again() -> None:
    """A subclass that only inherits its parent's MIME type is not registered and does not replace it."""
    variant: type[Serializer] = type("MsgpackVariant", (MsgpackSerializer,), {})
    assert variant.mime_type == "application/msgpack"
    assert type(Serializer.resolve_serializer("application/msgpack")) is MsgpackSerializer


def test_non_string_mime_type_is_a_type_error() -> None:
    """A MIME type that is not a str fails at class creation."""
    with pytest.raises(TypeError, match="must be a str"):
        _make_serializer(b"application/x-bytes")


def test_base_class_is_abstract() -> None:
    """Serializer itself and subclasses missing the two methods cannot be instantiated."""
    with pytest.raises(TypeError):
        Serializer()  # type: ignore[abstract]
    incomplete = type("Incomplete", (Serializer,), {})
    with pytest.raises(TypeError):
        incomplete()


def test_package_exports_are_complete() -> None:
    """The package's __all__ lists exactly the three public classes."""
    assert sorted(serializer_package.__all__) == ["JSONSerializer", "MsgpackSerializer", "Serializer"]
    for name in serializer_package.__all__:
        assert getattr(serializer_package, name) is not None


def test_documented_custom_serializer_example_works(throwaway_mime_types: list[str]) -> None:
    """The compressed-msgpack example from docs/serializers.rst registers, resolves and round-trips."""
    throwaway_mime_types.append("application/x-msgpack-zlib")

    class CompressedMsgpackSerializer(Serializer):
        mime_type = "application/x-msgpack-zlib"

        def __init__(self) -> None:
            self._inner = MsgpackSerializer()

        def dict_to_blob(self, message_dict: dict[Any, Any]) -> bytes:
            return zlib.compress(self._inner.dict_to_blob(message_dict))

        def blob_to_dict(self, blob: bytes) -> dict[Any, Any]:
            try:
                data = zlib.decompress(blob)
            except zlib.error as exc:
                raise InvalidMessage(f"Not zlib data: {exc}") from exc
            return self._inner.blob_to_dict(data)

    serializer = Serializer.resolve_serializer("application/x-msgpack-zlib")
    assert isinstance(serializer, CompressedMsgpackSerializer)
    message = {"body": {"day": datetime.date(2024, 5, 1), "text": "x" * 500}}
    blob = serializer.dict_to_blob(message)
    assert len(blob) < 100
    assert serializer.blob_to_dict(blob) == message
    with pytest.raises(InvalidMessage, match="Not zlib data"):
        serializer.blob_to_dict(b"plain")
