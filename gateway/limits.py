"""What one GraphQL request may ask for, and the reasons it is refused.

Checked before any gRPC call, so an abusive query costs a parse at most:

| limit            | setting                 | default | reason when broken      |
| ---------------- | ----------------------- | ------- | ----------------------- |
| body size        | GRAPHQL_MAX_BODY_BYTES  | 65536   | BODY_TOO_LARGE (413)    |
| tokens           | GRAPHQL_MAX_TOKENS      | 1000    | TOO_MANY_TOKENS         |
| depth            | GRAPHQL_MAX_DEPTH       | 10      | QUERY_TOO_DEEP          |
| aliases          | GRAPHQL_MAX_ALIASES     | 15      | TOO_MANY_ALIASES        |
| complexity       | GRAPHQL_MAX_COMPLEXITY  | 5000    | QUERY_TOO_COMPLEX       |
| introspection    | GRAPHQL_INTROSPECTION   | off     | INTROSPECTION_DISABLED  |
| page_size        | (the API's cap)         | 100     | field violation         |

Complexity: each selected field costs 1 per object it is selected on, fields
under `payments` count once per item of the page (page_size; 20 when absent,
100 when a variable), and each field that calls the API costs RPC_COST more.
All of them are INVALID_ARGUMENT errors with the reason in `extensions.reason`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from .config import GraphQLSettings
from .errors import DOMAIN, INVALID_ARGUMENT, invalid_argument

MAX_PAGE_SIZE = 100  # ListPaymentsRequest.page_size: 1 to 100
DEFAULT_PAGE_SIZE = 20  # what the API uses when page_size is 0
RPC_COST = 100
API_FIELDS = frozenset({"payment", "payments", "create_payment", "process_payment"})

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
BODY_TOO_LARGE = "BODY_TOO_LARGE"


def check_page_size(page_size: int | None) -> int:
    """The page size to ask the API for (0: its default), or INVALID_ARGUMENT."""
    if page_size is None:
        return 0
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid_argument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} "
                                            f"(omit it for {DEFAULT_PAGE_SIZE})")
    return page_size


def _tag(error: GraphQLError, reason: str) -> GraphQLError:
    error.extensions = {**(error.extensions or {}), "code": INVALID_ARGUMENT, "reason": reason, "domain": DOMAIN}
    return error


def tagged(rule: type[ValidationRule], reason: str) -> type[ValidationRule]:
    """`rule` whose errors carry INVALID_ARGUMENT and `reason`.

    Strawberry's limiters report while being constructed (through the context),
    graphql-core's rules while visiting (through `report_error`): both are tagged.
    """

    class Tagged(rule):  # type: ignore[misc, valid-type]
        def __init__(self, context: ValidationContext) -> None:
            report = context.report_error
            context.report_error = lambda error: report(_tag(error, reason))  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                del context.report_error

        def report_error(self, error: GraphQLError) -> None:
            super().report_error(_tag(error, reason))

    Tagged.__name__ = Tagged.__qualname__ = f"{rule.__name__}Tagged"
    return Tagged


def _page_size_for_cost(field: FieldNode) -> int:
    argument = next((a for a in field.arguments or () if a.name.value == "page_size"), None)
    if argument is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(argument.value, IntValueNode):
        return max(1, min(int(argument.value.value), MAX_PAGE_SIZE))
    return MAX_PAGE_SIZE  # a variable: assume the worst


class ComplexityRule(ValidationRule):
    """Refuses an operation whose cost (see the module docstring) exceeds `max_complexity`."""

    max_complexity = 5000

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
        cost = self._selections(node.selection_set, 1, at_root=True, seen=frozenset())
        if cost > self.max_complexity:
            self.report_error(GraphQLError(
                f"query complexity {cost} exceeds the maximum of {self.max_complexity}: select fewer fields, "
                f"a smaller page_size or fewer aliases", node))

    def _selections(self, selection_set: SelectionSetNode | None, multiplier: int, *, at_root: bool,
                    seen: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self._field(selection, multiplier, at_root=at_root, seen=seen)
            elif isinstance(selection, InlineFragmentNode):
                total += self._selections(selection.selection_set, multiplier, at_root=at_root, seen=seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.context.get_fragment(selection.name.value)
                if fragment is not None:
                    total += self._selections(fragment.selection_set, multiplier, at_root=at_root,
                                              seen=seen | {selection.name.value})
        return total

    def _field(self, field: FieldNode, multiplier: int, *, at_root: bool, seen: frozenset[str]) -> int:
        name = field.name.value
        if name.startswith("__"):
            return 0
        cost, inner = multiplier, multiplier
        if at_root and name in API_FIELDS:
            cost += RPC_COST
            if name == "payments":
                inner = multiplier * _page_size_for_cost(field)
        return cost + self._selections(field.selection_set, inner, at_root=False, seen=seen)


def complexity_rule(max_complexity: int) -> type[ValidationRule]:
    return type("ComplexityLimit", (ComplexityRule,), {"max_complexity": max_complexity})


ExtensionFactory = Callable[[], SchemaExtension]


def limit_extensions(settings: GraphQLSettings) -> list[ExtensionFactory]:
    """Factories of the schema extensions that enforce the limits above (one set per request)."""
    rules = [
        tagged(QueryDepthLimiter(max_depth=settings.max_depth).validation_rules[0], QUERY_TOO_DEEP),
        tagged(MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules[0], TOO_MANY_ALIASES),
        tagged(complexity_rule(settings.max_complexity), QUERY_TOO_COMPLEX),
    ]
    if not settings.introspection:
        rules.append(tagged(NoSchemaIntrospectionCustomRule, INTROSPECTION_DISABLED))
    return [functools.partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
            functools.partial(AddValidationRules, rules)]
