"""Check bodies against the official OpenAPI extract (tests/data/openapi-fulfillments.json).

Shared by the emulator tests and the SDK integration tests::

    from tests._openapi import validate_response
    validate_response("GET", "/fulfillments/{id}", 200, body)

Schemas are validated with openapi-schema-validator's OpenAPI 3.0 validators, so ``nullable``
and ``readOnly`` / ``writeOnly`` follow OAS 3.0 semantics (responses use the read validator,
requests the write validator) and formats such as ``date-time`` are checked.

Spec quirks worth knowing (none needs a workaround here):
- No schema sets ``additionalProperties: false``, so unknown fields always pass; tests that
  care about exact shapes must assert them themselves.
- ``FulfillmentRequestItem.skuId`` is ``readOnly`` in a request schema: the write validator
  therefore rejects a request that sends it, which matches what clients should do.
- The fulfillment-returns operations declare no ``security``; that is a spec omission
  (see FACTS.md §10) and is not checked here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)

SPEC_PATH = Path(__file__).parent / "data" / "openapi-fulfillments.json"

__all__ = [
    "SPEC_PATH",
    "has_operation",
    "load_spec",
    "validate_component",
    "validate_request_body",
    "validate_response",
]


@cache
def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def validate_response(method: str, path_template: str, status: int, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` (or AssertionError for an undeclared status)
    unless ``body`` is what the spec declares for that operation and status."""
    operation = _operation(method, path_template)
    responses = operation["responses"]
    assert str(status) in responses, (
        f"{method} {path_template} does not declare status {status} "
        f"(declared: {', '.join(sorted(responses))})"
    )
    schema = _json_schema(responses[str(status)])
    OAS30ReadValidator(schema, format_checker=oas30_format_checker).validate(body)


def validate_component(name: str, body: Any) -> None:
    """Validate against a component schema, e.g. ``validate_component("Errors", body)``."""
    schema = _resolved(json.dumps({"$ref": f"#/components/schemas/{name}"}))
    OAS30ReadValidator(schema, format_checker=oas30_format_checker).validate(body)


def has_operation(method: str, path_template: str) -> bool:
    return method.lower() in load_spec()["paths"].get(path_template, {})


def validate_request_body(method: str, path_template: str, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` matches the request schema."""
    schema = _json_schema(_operation(method, path_template)["requestBody"])
    OAS30WriteValidator(schema, format_checker=oas30_format_checker).validate(body)


def _operation(method: str, path_template: str) -> dict[str, Any]:
    paths = load_spec()["paths"]
    assert path_template in paths, f"unknown path {path_template!r}; one of {sorted(paths)}"
    operations = paths[path_template]
    assert method.lower() in operations, f"{method} is not an operation of {path_template}"
    return operations[method.lower()]


def _json_schema(container: dict[str, Any]) -> dict[str, Any]:
    return _resolved(json.dumps(container["content"]["application/json"]["schema"]))


@cache
def _resolved(schema_json: str) -> dict[str, Any]:
    """The schema with every local ``$ref`` inlined (the extract's schemas are acyclic)."""
    components = load_spec()["components"]["schemas"]

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                name = ref.removeprefix("#/components/schemas/")
                assert name not in seen, f"recursive schema {' -> '.join((*seen, name))}"
                return inline(components[name], (*seen, name))
            return {key: inline(value, seen) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value, seen) for value in node]
        return node

    return inline(json.loads(schema_json), ())
