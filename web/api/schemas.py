"""The models of web/api_models.py as JSON: their schemas in the document's dialect, and what
in a request body does not fit one, in the words the API has always answered with."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import ErrorDetails, core_schema


class _Generator(GenerateJsonSchema):
    """The document's dialect: no generated titles, descriptions or defaults (the handlers
    read what was sent), and an optional scalar as a list of types, as JSON Schema writes it."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        out.pop("title", None)
        out.pop("description", None)
        return out

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        kind = inner.get("type")
        if not isinstance(kind, str):
            return super().nullable_schema(schema)
        out = {**inner, "type": [kind, "null"]}
        if "enum" in inner:
            out["enum"] = [*inner["enum"], None]
        return out


REF = "#/components/schemas/{model}"


def component_schemas(models: Iterable[type[BaseModel]]) -> dict[str, JsonSchemaValue]:
    """The schemas of ``models`` and of every model they contain, by name, referring to one
    another as ``#/components/schemas/Name``."""
    _refs, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=REF, schema_generator=_Generator
    )
    return dict(top.get("$defs", {}))


def scalar_schema(annotation: Any) -> JsonSchemaValue:
    """The schema of a type of the models (a parameter's)."""
    return TypeAdapter(annotation).json_schema(schema_generator=_Generator)


def _schema_at(
    schemas: dict[str, JsonSchemaValue], node: JsonSchemaValue, loc: tuple[int | str, ...]
) -> JsonSchemaValue:
    """The schema of the value at ``loc`` under ``node``."""
    for step in loc:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        node = (
            node.get("items", {})
            if isinstance(step, int)
            else node.get("properties", {}).get(step, {})
        )
    while "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[1]]
    return node


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {dict: "object", list: "array", str: "string", float: "number", type(None): "null"}.get(
        type(value), "?"
    )


_WORDS = {
    "string_too_short": "length",
    "string_too_long": "length",
    "string_pattern_mismatch": "format",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
    "too_long": "too many items",
    "too_short": "too few items",
}


def problems(body: Any, model: type[BaseModel]) -> list[str]:
    """What in ``body`` does not fit ``model``, each as "where: what", in the order of the
    model's fields (missing ones first, then ones not expected, then each field's own)."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    else:
        return []
    schemas = _schemas_of(model)
    root = schemas[model.__name__]
    found: list[tuple[tuple[int, ...], str]] = []
    for error in list(errors):
        if error["type"] == "too_long" and len(error["loc"]) == 1:
            errors += _items_of(model, str(error["loc"][0]), error["input"])
    for error in errors:
        loc = tuple(error["loc"])
        found.append(
            (_order(schemas, root, loc, error["type"]), _problem(schemas, root, loc, error))
        )
    return [text for _key, text in sorted(found, key=lambda f: f[0])]


@functools.cache
def _schemas_of(model: type[BaseModel]) -> dict[str, JsonSchemaValue]:
    return component_schemas([model])


def _items_of(model: type[BaseModel], name: str, items: Any) -> list[ErrorDetails]:
    """The problems of the items of a field's list that is too long (pydantic stops at its
    length; the answer names the wrong items too)."""
    annotation: Any = next(
        f.annotation for k, f in model.model_fields.items() if (f.alias or k) == name
    )
    try:
        TypeAdapter[Any](annotation).validate_python(items, strict=True)  # without the length bound
    except ValidationError as exc:
        return [{**e, "loc": (name, *e["loc"])} for e in exc.errors(include_url=False)]
    return []


def _where(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return ""
    if isinstance(loc[-1], int):
        return f"{_where(loc[:-1])}[{loc[-1]}]"
    return str(loc[-1])


def _problem(
    schemas: dict[str, JsonSchemaValue],
    root: JsonSchemaValue,
    loc: tuple[int | str, ...],
    error: Any,
) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"{loc[-1]}: missing"
    if kind == "extra_forbidden":
        return f"{loc[-1]}: not expected"
    node = _schema_at(schemas, root, loc)
    allowed = node.get("type")
    allowed = allowed if isinstance(allowed, list) else [allowed] if allowed else []
    where = _where(loc)
    value = error["input"]
    if (
        allowed
        and _json_type(value) not in allowed
        and not (_json_type(value) == "integer" and "number" in allowed)
    ):
        return f"{where or 'the body'}: expected {' or '.join(allowed)}"
    word = _WORDS.get(kind)
    if kind == "literal_error":
        return f"{where}: one of {', '.join(map(str, node.get('enum', [])))}"
    return f"{where}: {word or error['msg']}"


def _order(
    schemas: dict[str, JsonSchemaValue],
    node: JsonSchemaValue,
    loc: tuple[int | str, ...],
    kind: str,
) -> tuple[int, ...]:
    """Where a problem comes among the others: in an object, the missing fields (in the order
    the schema requires them), then the unexpected ones (as sent), then each field's own
    problems in the schema's order; in an array, its length, then its items in turn."""
    key: list[int] = []
    for i, step in enumerate(loc):
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        last = i == len(loc) - 1
        if isinstance(step, int):
            key += [1, step]
            node = node.get("items", {})
        elif last and kind == "missing":
            key += [0, list(node.get("required", [])).index(step)]
        elif last and kind == "extra_forbidden":
            key += [1, 0]
        else:
            key += [2, list(node.get("properties", {})).index(step)]
            node = node.get("properties", {}).get(step, {})
    return (*key, 0)
