"""The OpenAPI 3.1 document of a gateway, built from its services' ``introspect`` answers.

:func:`field_schema` turns one field's introspection (Conformity's format, which the ``introspect``
action uses for our fields, Conformity's fields and pydantic models) into a JSON Schema 2020-12
schema (OpenAPI 3.1's dialect), describing values as the gateway encodes them
(:mod:`pysoa_like.gateway.encoding`). :func:`build_document` assembles the paths of the exposed actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pysoa_like.gateway.settings import ALL_ACTIONS, BUILTIN_ACTIONS

__all__ = ["ENCODING_SCHEMAS", "build_document", "described_actions", "field_schema"]

_REF = "#/components/schemas/"
_SWITCHED = re.compile(r"^(?P<name>.+)\[(?:switch:-?\d+|DEFAULT)\]$")
_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _tagged(tag: str, value: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {tag: dict(value)},
        "required": [tag],
        "additionalProperties": False,
        "description": description,
    }


#: The encoding's tagged objects (see pysoa_like.gateway.encoding), as components.
ENCODING_SCHEMAS: dict[str, dict[str, Any]] = {
    "DateTime": _tagged(
        "$datetime",
        {"type": "string", "examples": ["2026-12-06T01:02:03.000004+00:00"]},
        "A date-time: ISO 8601 text, naive or UTC (an offset is read as the same instant in UTC).",
    ),
    "Date": _tagged("$date", {"type": "string", "format": "date"}, "A date: ISO 8601 text (YYYY-MM-DD)."),
    "Time": _tagged("$time", {"type": "string", "examples": ["01:02:03.000004"]}, "A time without offset."),
    "Decimal": _tagged(
        "$decimal",
        {"type": "string", "pattern": r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(NaN|sNaN|Infinity)$"},
        "A decimal number as text (the exponent is kept: 12.3400 stays 12.3400).",
    ),
    "Amount": _tagged(
        "$amount",
        {
            "type": "object",
            "properties": {
                "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                "minor": {"type": "integer", "description": "The amount in minor units (cents)."},
            },
            "required": ["currency", "minor"],
            "additionalProperties": False,
        },
        "A money amount (currint.Amount).",
    ),
    "Bytes": _tagged("$bytes", {"type": "string", "contentEncoding": "base64"}, "Bytes, in standard base64."),
    "NonFiniteFloat": _tagged(
        "$float", {"enum": ["NaN", "Infinity", "-Infinity"]}, "A float that JSON numbers cannot carry."
    ),
    "Map": _tagged(
        "$map",
        {"type": "array", "items": {"type": "array", "prefixItems": [{}, {}], "minItems": 2, "maxItems": 2}},
        "A map whose keys are not all strings, as [key, value] pairs.",
    ),
}

_ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "VALIDATION codes INVALID, MISSING, UNKNOWN; AUTH_REQUIRED, ..."},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "The dotted path of the request field at fault."},
        "is_caller_error": {"type": "boolean"},
        "denied_permissions": {"type": ["array", "null"], "items": {"type": "string"}},
    },
    "required": ["code", "message"],
}
_ERROR_RESPONSE = {
    "type": "object",
    "properties": {
        "errors": {"type": "array", "items": {"$ref": _REF + "Error"}, "minItems": 1},
        "correlation_id": {"type": "string"},
    },
    "required": ["errors"],
}
# Status -> description of the error answers every action may give.
_ERROR_ANSWERS = {
    "400": "A request the service or the gateway refused: validation errors (with the field at fault), a "
    "malformed body or header, or any other error the action reports as the caller's.",
    "404": "The service or action is not exposed by this gateway, or the service does not know the action.",
    "413": "The request body is larger than the gateway accepts (or than the transport carries).",
    "408": "The request body did not all arrive within the call's deadline (X-Timeout or the gateway's default).",
    "415": "The request body is not JSON.",
    "500": "The service failed (an unexpected error), or the gateway did.",
    "502": "The gateway could not reach the service's transport, or the worker died.",
    "503": "The service is overloaded or its queue full, its circuit breaker is open, or the gateway is full: see "
    "Retry-After.",
    "504": "The service did not answer within the deadline (X-Timeout or the gateway's default).",
}
_AUTH_ANSWERS = {
    "401": "A private action called without a token (AUTH_REQUIRED) or with a refused one (AUTH_INVALID).",
    "403": "The token lacks a scope the action requires (ACCESS_DENIED).",
}
_HEADERS = {
    "RequestId": {
        "name": "X-Request-ID",
        "in": "header",
        "description": "The call's correlation id (else the traceparent's trace id, else a new one); echoed back.",
        "schema": {"type": "string", "maxLength": 200},
    },
    "Timeout": {
        "name": "X-Timeout",
        "in": "header",
        "description": "Seconds the call may take (default: the gateway's); past it the answer is 504.",
        "schema": {"type": "number", "exclusiveMinimum": 0},
    },
    "Switches": {
        "name": "X-Switches",
        "in": "header",
        "description": "Switches for the request context, as comma-separated integers.",
        "schema": {"type": "string", "examples": ["1, 5"]},
    },
    "TraceParent": {
        "name": "traceparent",
        "in": "header",
        "description": "W3C trace context, passed on to the services (with tracestate).",
        "schema": {"type": "string"},
    },
}


def _bounds(introspection: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    for source, target in (
        ("gt", "exclusiveMinimum"),
        ("gte", "minimum"),
        ("lt", "exclusiveMaximum"),
        ("lte", "maximum"),
    ):
        value = introspection.get(source)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[target] = value
    return schema


def _lengths(introspection: Mapping[str, Any], schema: dict[str, Any], low: str, high: str) -> dict[str, Any]:
    if isinstance(introspection.get("min_length"), int):
        schema[low] = introspection["min_length"]
    if isinstance(introspection.get("max_length"), int):
        schema[high] = introspection["max_length"]
    return schema


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


class _Converter:
    """Turns introspections into schemas, hoisting pydantic's ``$defs`` into the document's components."""

    def __init__(self, components: dict[str, Any], prefix: str) -> None:
        self.components = components
        self.prefix = prefix

    def field(self, introspection: Any) -> dict[str, Any]:
        if not isinstance(introspection, Mapping):
            return {}
        kind = str(introspection.get("type"))
        build = self._builders().get(kind)
        schema = build(introspection) if build is not None else {"x-pysoa-type": kind}
        description = introspection.get("description")
        if isinstance(description, str) and description and "description" not in schema:
            schema["description"] = description
        return schema

    def _builders(self) -> dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]]:
        return {
            "integer": lambda i: _bounds(i, {"type": "integer"}),
            "float": lambda i: _bounds(i, {"anyOf": [{"type": "number"}, _ref("NonFiniteFloat")]}),
            "decimal": lambda i: _ref("Decimal"),
            "unicode": self._string,
            "bytes": lambda i: _ref("Bytes"),
            "boolean": lambda i: {"type": "boolean"},
            "anything": lambda i: {},
            "hashable": lambda i: {},
            "base": lambda i: {},
            "constant": lambda i: {"enum": list(i.get("values") or [])},
            "nullable": lambda i: {"anyOf": [self.field(i.get("nullable")), {"type": "null"}]},
            "any": lambda i: {"anyOf": [self.field(option) for option in i.get("options") or []]},
            "all": lambda i: {"allOf": [self.field(part) for part in i.get("requirements") or []]},
            "list": lambda i: _lengths(
                i, {"type": "array", "items": self.field(i.get("contents"))}, "minItems", "maxItems"
            ),
            "sequence": lambda i: _lengths(
                i, {"type": "array", "items": self.field(i.get("contents"))}, "minItems", "maxItems"
            ),
            "set": lambda i: _lengths(
                i,
                {"type": "array", "uniqueItems": True, "items": self.field(i.get("contents"))},
                "minItems",
                "maxItems",
            ),
            "tuple": self._tuple,
            "dictionary": self._dictionary,
            "schemaless_dictionary": self._schemaless,
            "datetime": lambda i: _ref("DateTime"),
            "date": lambda i: _ref("Date"),
            "time": lambda i: _ref("Time"),
            "currint.Amount": lambda i: _ref("Amount"),
            "email_address": lambda i: {"type": "string", "format": "email"},
            "ipv4_address": lambda i: {"type": "string", "format": "ipv4"},
            "ipv6_address": lambda i: {"type": "string", "format": "ipv6"},
            "ip_address": lambda i: {"type": "string"},
            "pydantic": self._pydantic,
        }

    @staticmethod
    def _string(introspection: Mapping[str, Any]) -> dict[str, Any]:
        schema = _lengths(introspection, {"type": "string"}, "minLength", "maxLength")
        if introspection.get("allow_blank") is False:
            schema["pattern"] = r"\S"
        return schema

    def _tuple(self, introspection: Mapping[str, Any]) -> dict[str, Any]:
        items = [self.field(item) for item in introspection.get("contents") or []]
        return {"type": "array", "prefixItems": items, "items": False, "minItems": len(items), "maxItems": len(items)}

    def _dictionary(self, introspection: Mapping[str, Any]) -> dict[str, Any]:
        contents = introspection.get("contents") or {}
        optional = set(introspection.get("optional_keys") or ())
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {str(key): self.field(value) for key, value in contents.items()},
            "additionalProperties": bool(introspection.get("allow_extra_keys", False)),
        }
        required = [str(key) for key in contents if key not in optional]
        if required:
            schema["required"] = required
        return schema

    def _schemaless(self, introspection: Mapping[str, Any]) -> dict[str, Any]:
        key_type = introspection.get("key_type")
        if isinstance(key_type, Mapping) and key_type.get("type") not in ("unicode", "anything", "hashable", None):
            return {"anyOf": [{"type": "object"}, _ref("Map")]}
        schema: dict[str, Any] = {"type": "object"}
        if introspection.get("value_type") is not None:
            schema["additionalProperties"] = self.field(introspection["value_type"])
        return _lengths(introspection, schema, "minProperties", "maxProperties")

    def _pydantic(self, introspection: Mapping[str, Any]) -> dict[str, Any]:
        json_schema = introspection.get("json_schema")
        if not isinstance(json_schema, Mapping):
            return {"description": str(introspection.get("json_schema_error") or "A pydantic type without JSON schema")}
        json_schema = dict(json_schema)
        definitions = json_schema.pop("$defs", None) or {}
        names = {name: _COMPONENT_NAME.sub("_", f"{self.prefix}{name}") for name in definitions}
        for name, definition in definitions.items():
            self.components[names[name]] = self._rewrite(definition, names)
        return self._rewrite(json_schema, names)  # type: ignore[no-any-return]

    def _rewrite(self, value: Any, names: Mapping[str, str]) -> Any:
        """Pydantic's schema with refs into the components, and date/time strings as the encoding sends them."""
        if isinstance(value, list):
            return [self._rewrite(item, names) for item in value]
        if not isinstance(value, Mapping):
            return value
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in names:
            return {**{k: v for k, v in value.items() if k != "$ref"}, "$ref": _REF + names[ref[8:]]}
        if value.get("type") == "string" and value.get("format") in ("date-time", "date", "time"):
            tagged = {"date-time": "DateTime", "date": "Date", "time": "Time"}[value["format"]]
            return {**{k: v for k, v in value.items() if k not in ("type", "format")}, "$ref": _REF + tagged}
        return {key: self._rewrite(item, names) for key, item in value.items()}


def field_schema(introspection: Any, components: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    """The JSON Schema (2020-12) of values a field with this introspection accepts, as the gateway encodes them.

    Args:
        introspection: A field's ``introspect()`` (Conformity's format), as the ``introspect`` action reports it.
        components: Where definitions of pydantic models go (the document's ``components.schemas``).
        prefix: Prepended to those definitions' names.
    """
    return _Converter(components if components is not None else {}, prefix).field(introspection)


def described_actions(introspection: Mapping[str, Any]) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Action name -> its described entries (several for a switched action: ``name[switch:N]``, ``name[DEFAULT]``)."""
    actions: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for entry, description in (introspection.get("actions") or {}).items():
        match = _SWITCHED.match(entry)
        name = match.group("name") if match else entry
        actions.setdefault(name, []).append((entry, description if isinstance(description, Mapping) else {}))
    return actions


def _one_of(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    distinct: list[dict[str, Any]] = []
    for schema in schemas:
        if schema not in distinct:
            distinct.append(schema)
    return distinct[0] if len(distinct) == 1 else {"anyOf": distinct}


def _operation(
    service: str, name: str, entries: list[tuple[str, Mapping[str, Any]]], converter: _Converter
) -> dict[str, Any]:
    converter.prefix = f"{service}.{name}."
    requests, responses = [], []
    for _entry, description in entries:
        request = description.get("request_schema")
        response = description.get("response_schema")
        requests.append(converter.field(request) if request is not None else {"type": "object"})
        responses.append(converter.field(response) if response is not None else {"type": "object"})
    first = entries[0][1]
    documentation = str(first.get("documentation") or "").strip()
    if len(entries) > 1:
        variants = ", ".join(entry for entry, _ in entries)
        documentation += f"\n\nA switched action (X-Switches picks one of {variants}): the schemas are each variant's."
    operation: dict[str, Any] = {
        "operationId": _COMPONENT_NAME.sub("_", f"{service}.{name}"),
        "tags": [service],
        "summary": documentation.splitlines()[0] if documentation else f"{service} {name}",
        "parameters": [{"$ref": f"#/components/parameters/{header}"} for header in _HEADERS],
        "requestBody": {
            "required": False,
            "description": "The action's request body (an empty body is {}).",
            "content": {"application/json": {"schema": _one_of(requests)}},
        },
        "responses": {
            "200": {
                "description": "The action's response body.",
                "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                "content": {"application/json": {"schema": _one_of(responses)}},
            },
            **{status: {"$ref": f"#/components/responses/Error{status}"} for status in _ERROR_ANSWERS},
        },
    }
    if documentation:
        operation["description"] = documentation
    if any(description.get("deprecated") for _, description in entries):
        operation["deprecated"] = True
    if any(description.get("private") for _, description in entries):
        scopes = sorted({str(s) for _, d in entries for s in d.get("required_scopes") or ()})
        operation["security"] = [{"bearerAuth": scopes}]
        operation["responses"].update({s: {"$ref": f"#/components/responses/Error{s}"} for s in _AUTH_ANSWERS})
        needs = f"scope(s) {', '.join(scopes)}" if scopes else "any valid token"
        operation["description"] = (
            documentation + f"\n\nPrivate: send Authorization: Bearer <token> ({needs})."
        ).strip()
    return operation


def _job_operation(service: str, bodies: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    items = [
        {
            "type": "object",
            "properties": {"action": {"const": name}, "body": body},
            "required": ["action"],
            "additionalProperties": False,
        }
        for name, body in bodies.items()
    ]
    return {
        "operationId": _COMPONENT_NAME.sub("_", f"{service}.job"),
        "tags": [service],
        "summary": f"Run several actions of {service} in one job",
        "description": "The actions run in order, on one worker; the job stops at the first action with errors "
        "unless continue_on_error is true. The status is 200 when no action failed, else the status of the first "
        "error (job errors first); the body is always the whole job response.",
        "parameters": [{"$ref": f"#/components/parameters/{header}"} for header in _HEADERS],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "actions": {"type": "array", "minItems": 1, "items": {"anyOf": items} if items else {}},
                            "continue_on_error": {"type": "boolean", "default": False},
                        },
                        "required": ["actions"],
                        "additionalProperties": False,
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "The job response: every action ran without error.",
                "content": {"application/json": {"schema": {"$ref": _REF + "JobResponse"}}},
            },
            "default": {
                "description": "The job response with the errors (status as for a single action), or an error "
                "answer of the gateway.",
                "content": {"application/json": {"schema": {"$ref": _REF + "JobResponse"}}},
            },
        },
    }


def _components(schemas: dict[str, Any]) -> dict[str, Any]:
    schemas.update(ENCODING_SCHEMAS)
    schemas["Error"] = _ERROR
    schemas["ErrorResponse"] = _ERROR_RESPONSE
    schemas["JobResponse"] = {
        "type": "object",
        "properties": {
            "correlation_id": {"type": "string"},
            "errors": {"type": "array", "items": _ref("Error"), "description": "Job errors."},
            "actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string"},
                        "body": {"type": "object"},
                        "errors": {"type": "array", "items": _ref("Error")},
                    },
                    "required": ["action", "body", "errors"],
                },
            },
        },
        "required": ["errors", "actions"],
    }
    error_content = {"application/json": {"schema": _ref("ErrorResponse")}}
    responses = {
        f"Error{status}": {"description": text, "content": error_content} for status, text in _ERROR_ANSWERS.items()
    }
    responses.update(
        {f"Error{status}": {"description": text, "content": error_content} for status, text in _AUTH_ANSWERS.items()}
    )
    responses["Error503"]["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    responses["Error401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return {
        "schemas": schemas,
        "responses": responses,
        "parameters": _HEADERS,
        "headers": {
            "RequestId": {"description": "The call's correlation id.", "schema": {"type": "string"}},
            "RetryAfter": {"description": "Seconds before trying again.", "schema": {"type": "integer", "minimum": 1}},
        },
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (pysoa_like.auth)."}
        },
    }


def _describe_service(
    service: str,
    introspection: Mapping[str, Any],
    allowed: frozenset[str] | str,
    schemas: dict[str, Any],
    paths: dict[str, Any],
) -> None:
    """Add the operations of one service's exposed actions to ``paths`` (their components to ``schemas``).

    Raises:
        AttributeError, KeyError, TypeError, ValueError, RecursionError: The answer is not of the introspection
            format (a service's own ``introspect``, or not a pysoa_like one).
    """
    converter = _Converter(schemas, "")
    bodies: dict[str, dict[str, Any]] = {}
    for name, entries in sorted(described_actions(introspection).items()):
        if not (name not in BUILTIN_ACTIONS if allowed == ALL_ACTIONS else name in allowed):
            continue
        operation = _operation(service, name, entries, converter)
        paths[f"/{service}/{name}"] = {"post": operation}
        bodies[name] = operation["requestBody"]["content"]["application/json"]["schema"]
    if bodies:
        paths[f"/{service}"] = {"post": _job_operation(service, bodies)}


def build_document(
    title: str,
    version: str,
    expose: Mapping[str, frozenset[str] | str],
    introspections: Mapping[str, Mapping[str, Any] | str],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the exposed actions.

    Args:
        title: ``info.title``.
        version: ``info.version``.
        expose: The gateway's allow-list.
        introspections: Service -> its ``introspect`` answer, or why it could not be had (a service
            that did not answer, or whose answer cannot be read, is listed with the reason and no operation).
    """
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    tags = []
    for service in sorted(expose):
        introspection = introspections.get(service, "not asked")
        if not isinstance(introspection, str):
            try:
                # Into copies: a service whose answer cannot be read leaves nothing half-converted behind.
                service_schemas, service_paths = dict(schemas), dict[str, Any]()
                _describe_service(service, introspection, expose[service], service_schemas, service_paths)
                documentation = str(introspection.get("documentation") or "").strip()
            except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
                introspection = f"its introspection could not be read ({type(exc).__name__}: {exc})"
            else:
                schemas, paths = service_schemas, {**paths, **service_paths}
                tags.append({"name": service, "description": documentation})
                continue
        tags.append({"name": service, "description": f"Not described: {introspection}"})
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Whether the gateway is up",
            "responses": {
                "200": {"description": "Up.", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Actions of pysoa_like services, called over HTTP. Values JSON cannot carry (date-times, "
            "decimals, amounts, bytes) are tagged objects: see the DateTime, Decimal, Amount and Bytes schemas.",
        },
        "tags": tags,
        "paths": paths,
        "components": _components(schemas),
    }
