"""JSON Schemas shipped with the package, and one-line messages for what fails them.

``report-2.json`` describes ``NAME.report.json`` (``scrubber.report/2``; ``report-1.json`` the version before it); ``payers-1.json`` the payer
registry format (``scrubber.payers/1``). Both are public: integrators and plugin authors validate
their own files against them. ``jsonschema`` is imported only when a check runs, so the default
scrub path does not pay for it.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from typing import Any

JSON_TYPES = {dict: "a mapping", list: "a list", str: "text", bool: "true or false", int: "a number",
              float: "a number", type(None): "empty"}
SCHEMA_TYPES = {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false",
                "number": "a number", "integer": "a whole number", "null": "empty"}


def schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name`` (e.g. ``report-1``), read from the installed package."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema(name))
    return cls(schema(name), format_checker=cls.FORMAT_CHECKER)


def plain(value: Any) -> Any:
    """YAML data as JSON would have it: dates as ISO text, mapping keys as text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def problems(name: str, document: Any) -> list[str]:
    """Every way ``document`` fails schema ``name``, each as one line (path: what is wrong)."""
    errors = sorted((_deepest(e) for e in validator(name).iter_errors(document)),
                    key=lambda e: list(map(str, e.absolute_path)))
    lines = [f"{location(e.absolute_path)}: {describe(e)}" if e.absolute_path else describe(e) for e in errors]
    return list(dict.fromkeys(lines))  # if/then/else and anyOf can report one fault twice


def _deepest(error: Any) -> Any:
    """For "any of these shapes", the branch that got furthest into the value (e.g. a source's mapping)."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        deep = [c for c in error.context if c.validator not in ("type", "const")]
        if not deep:
            break
        error = max(deep, key=lambda c: len(c.absolute_path))
    return error


def location(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(error: Any) -> str:
    """A jsonschema error in words, without dumping the whole offending mapping."""
    kind, instance, wanted = error.validator, error.instance, error.validator_value
    if kind in ("anyOf", "oneOf") and error.context:
        kinds = sorted({SCHEMA_TYPES.get(t, t) for c in error.context if c.validator == "type"
                        for t in ([c.validator_value] if isinstance(c.validator_value, str) else c.validator_value)})
        return f"must be {' or '.join(kinds) or 'something else'}, not {_kind(instance)}"
    if kind == "required":
        missing = [k for k in wanted if isinstance(instance, dict) and k not in instance]
        return f"missing {', '.join(missing)}"
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known)
        return f"unknown field {', '.join(map(repr, extra))} (known: {', '.join(sorted(known))})"
    if kind == "type":
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        text = f"must be {' or '.join(SCHEMA_TYPES.get(t, t) for t in types)}, not {_kind(instance)}"
        if "string" in types and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            text += " (quote it in YAML: an unquoted 01112 is read as a number)"
        return text
    if kind == "const":
        return f"must be {wanted!r}, not {_short(instance)}"
    if kind == "enum":
        return f"must be one of {', '.join(map(str, wanted))}, not {_short(instance)}"
    if kind == "pattern":
        return f"{_short(instance)} is not in the expected form ({error.schema.get('description') or wanted})"
    if kind == "contains":
        return "has no item of the required kind"
    if kind == "minItems":
        return f"must list at least {wanted}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "format":
        return f"{_short(instance)} is not a valid {wanted}" + (" (YYYY-MM-DD)" if wanted == "date" else "")
    return " ".join(str(error.message).split())[:200]


def _kind(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)
