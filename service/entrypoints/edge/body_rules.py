"""Which JSON keys a REST body may carry, read from the descriptor set Envoy transcodes with.

Envoy's gRPC-JSON transcoder drops JSON keys it does not know, so `{"action": "REFUND",
"amout": 5}` used to refund everything. This module makes the edge strict without a second
source of truth: it reads the same `envoy/payment.pb` Envoy reads, finds the RPC a request is
bound to by its `google.api.http` rule (method and path template), and walks the JSON body
against that RPC's request message:

- a key that names no field (by proto name or JSON name) is refused, at any depth: nested
  messages, repeated messages and message-valued maps are walked too;
- a key given twice in one object is refused (also `customer_id` next to `customerId`), since
  JSON parsers disagree on which one wins;
- `google.protobuf.Struct`/`Value`/`Any` content is free-form: only duplicate keys are checked;
- a body bound to `google.api.HttpBody` (the processor webhooks) is raw bytes, never parsed;
- a JSON object as the value of a scalar-valued map (`"metadata": {"k": {}}`) is refused:
  Envoy's transcoder turns it into corrupt protobuf (the service saw an undecodable request and
  answered 500) instead of naming the type, as it does everywhere else (found by schemathesis).

Every refusal is a `Violation` naming the field path (`payment.metadata`, `amout`), turned
into a 400 by the caller. Types, ranges and enum names stay the transcoder's and the
service's business: this only decides which keys exist.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

FREE_FORM = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any"}
RAW_BODY = "google.api.HttpBody"
MAX_DEPTH = 64


@dataclasses.dataclass(frozen=True)
class Violation:
    """Why a body is refused: `field` is the dotted path of the offending key."""

    field: str
    reason: str  # UNKNOWN_FIELD, DUPLICATE_FIELD, MALFORMED_JSON, INVALID_TYPE
    description: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.description}"


@dataclasses.dataclass(frozen=True)
class Binding:
    """One `google.api.http` rule: an HTTP method, a path pattern and what its body fills."""

    rpc: str
    method: str
    pattern: re.Pattern[str]
    message: descriptor.Descriptor | None  # None: the rule takes no body, or a raw HttpBody


class _Pairs(list):
    """A JSON object as its key/value pairs in order, so duplicates survive parsing."""


def _template_regex(template: str) -> re.Pattern[str]:
    """`/v1/payments/{payment_id}:process` -> a regex over the path without its query."""
    out, rest = [], template
    for match in re.finditer(r"\{([^}=]+)(?:=([^}]*))?\}|[^{]+", rest):
        if match.group(1) is None:
            out.append(re.escape(match.group(0)))
        else:
            pattern = match.group(2) or "*"
            out.append("/".join(".+" if part == "**" else "[^/]+" if part == "*" else re.escape(part)
                                for part in pattern.split("/")))
    return re.compile("".join(out))


class BodyRules:
    """The bindings of every RPC in a descriptor set; `check(method, path, body)` decides."""

    def __init__(self, bindings: Iterable[Binding]) -> None:
        self.bindings = list(bindings)

    @classmethod
    def from_descriptor_set(cls, data: bytes) -> BodyRules:
        files = descriptor_pb2.FileDescriptorSet.FromString(data)
        pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            pool.Add(file)
        bindings = []
        for file in files.file:
            for service in file.service:
                for rpc in service.method:
                    if not rpc.options.HasExtension(annotations_pb2.http):
                        continue
                    request = pool.FindMessageTypeByName(rpc.input_type.lstrip("."))
                    rule = rpc.options.Extensions[annotations_pb2.http]
                    for one in (rule, *rule.additional_bindings):
                        bindings.append(_binding(f"{file.package}.{service.name}/{rpc.name}", one, request))
        return cls(bindings)

    def binding_for(self, method: str, path: str) -> Binding | None:
        bare = path.split("?", 1)[0]
        for binding in self.bindings:
            if binding.method == method and binding.pattern.fullmatch(bare):
                return binding
        return None

    def check(self, method: str, path: str, body: bytes) -> Violation | None:
        """None when the body may go on; unbound paths are left to the transcoder (404/400)."""
        binding = self.binding_for(method, path)
        if binding is None:
            if body.strip() and method not in ("GET", "HEAD"):
                # Fail closed: a body the transcoder might bind where this module sees no rule.
                return Violation("path", "NO_BINDING", f"no REST method takes a body at {method} {_shown(path)}")
            return None
        if binding.message is None or not body.strip():
            return None
        try:
            document = json.loads(body, object_pairs_hook=_Pairs)
        except RecursionError:
            return Violation("body", "MALFORMED_JSON", f"nested deeper than {MAX_DEPTH} levels")
        except ValueError as exc:  # includes invalid UTF-8
            return Violation("body", "MALFORMED_JSON", f"not valid JSON ({_short(exc)})")
        try:
            return _walk_message(binding.message, document, "", 0)
        except RecursionError:
            return Violation("body", "MALFORMED_JSON", f"nested deeper than {MAX_DEPTH} levels")


def _short(exc: ValueError) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


def _binding(rpc: str, rule: http_pb2.HttpRule, request: descriptor.Descriptor) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        method, template = rule.custom.kind.upper(), rule.custom.path
    else:
        method, template = kind.upper(), getattr(rule, kind)
    message: descriptor.Descriptor | None
    if not rule.body:
        message = None
    elif rule.body == "*":
        message = request
    else:
        field = request.fields_by_name[rule.body]
        message = field.message_type  # a scalar body field: nothing to walk
    if message is not None and message.full_name == RAW_BODY:
        message = None
    return Binding(rpc, method, _template_regex(template), message)


def _shown(text: str, limit: int = 64) -> str:
    """Keys come from the caller: echo at most `limit` characters of one back."""
    return text if len(text) <= limit else text[:limit] + "..."


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{_shown(key)}" if prefix else _shown(key)


def _walk_message(message: descriptor.Descriptor, value: object, prefix: str, depth: int) -> Violation | None:
    if depth > MAX_DEPTH:
        return Violation(prefix or "body", "MALFORMED_JSON", f"nested deeper than {MAX_DEPTH} levels")
    if message.full_name in FREE_FORM:
        return _duplicates_only(value, prefix, depth)
    if not isinstance(value, _Pairs):
        return _duplicates_only(value, prefix, depth)  # a wrong type: the transcoder names it
    fields = {**{f.json_name: f for f in message.fields}, **{f.name: f for f in message.fields}}
    seen: set[str] = set()
    for key, item in value:
        path = _join(prefix, key)
        field = fields.get(key)
        if field is None:
            return Violation(path, "UNKNOWN_FIELD", f"unknown field: {message.full_name} has no field {_shown(key)!r}")
        if field.name in seen:
            return Violation(path, "DUPLICATE_FIELD", f"given more than once ({field.name!r})")
        seen.add(field.name)
        problem = _walk_field(field, item, _join(prefix, field.name), depth + 1)
        if problem is not None:
            return problem
    return None


def _walk_field(field: descriptor.FieldDescriptor, value: object, path: str, depth: int) -> Violation | None:
    if field.message_type is None:
        return _duplicates_only(value, path, depth)
    if field.message_type.GetOptions().map_entry:
        return _walk_map(field.message_type, value, path, depth)
    if _is_repeated(field) and isinstance(value, list):
        for index, item in enumerate(value):
            problem = _walk_message(field.message_type, item, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
        return None
    return _walk_message(field.message_type, value, path, depth)


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    # newer protobuf has is_repeated (and no label on upb descriptors); older ones only label
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == descriptor.FieldDescriptor.LABEL_REPEATED


def _walk_map(entry: descriptor.Descriptor, value: object, path: str, depth: int) -> Violation | None:
    if not isinstance(value, _Pairs):
        return _duplicates_only(value, path, depth)
    value_field = entry.fields_by_name["value"]
    seen: set[str] = set()
    for key, item in value:
        if key in seen:
            return Violation(f"{path}[{_shown(key)!r}]", "DUPLICATE_FIELD", "map key given more than once")
        seen.add(key)
        if value_field.message_type is None and isinstance(item, _Pairs):
            return Violation(f"{path}[{_shown(key)!r}]", "INVALID_TYPE", "a map value here is a scalar, not an object")
        problem = _walk_field(value_field, item, f"{path}[{_shown(key)!r}]", depth + 1)
        if problem is not None:
            return problem
    return None


def _duplicates_only(value: object, path: str, depth: int) -> Violation | None:
    """Free-form JSON: no schema to check, but a key twice in one object is still ambiguous."""
    if depth > MAX_DEPTH:
        return Violation(path or "body", "MALFORMED_JSON", f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            if key in seen:
                return Violation(_join(path, key), "DUPLICATE_FIELD", "given more than once")
            seen.add(key)
            problem = _duplicates_only(item, _join(path, key), depth + 1)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _duplicates_only(item, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
    return None
