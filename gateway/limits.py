"""What one GraphQL request may ask for, and the reasons it is refused.

Checked before any gRPC call, so an abusive query costs a parse at most:

| limit            | setting                 | default | reason when broken      |
| ---------------- | ----------------------- | ------- | ----------------------- |
| body size        | GRAPHQL_MAX_BODY_BYTES  | 65536   | BODY_TOO_LARGE (413)    |
| tokens           | GRAPHQL_MAX_TOKENS      | 1000    | TOO_MANY_TOKENS         |
| depth            | GRAPHQL_MAX_DEPTH       | 10      | QUERY_TOO_DEEP          |
| aliases          | GRAPHQL_MAX_ALIASES     | 15      | TOO_MANY_ALIASES        |
| complexity       | GRAPHQL_MAX_COMPLEXITY  | 5000    | QUERY_TOO_COMPLEX       |
| fragment spreads | (MAX_FRAGMENT_SPREADS)  | 32      | TOO_MANY_FRAGMENT_SPREADS |
| introspection    | GRAPHQL_INTROSPECTION   | off     | INTROSPECTION_DISABLED  |
| page_size        | (the API's cap)         | 100     | field violation         |

Complexity: each selected field costs 1 per object it is selected on, fields
under `payments` count once per item of the page (page_size; 20 when absent,
100 when a variable), and each field that calls the API costs RPC_COST more.
All of them are INVALID_ARGUMENT errors with the reason in `extensions.reason`.

Depth, aliases and complexity are measured in time linear in the document
(document_cost.py: each fragment once, however often it is spread), and the
spreads a document may hold are capped; the HTTP layer runs `precheck` before
strawberry, so a document over a limit never reaches graphql-core's own
validation rules either (issue 15, item 1: the fragment bomb).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable

from graphql import DocumentNode, GraphQLError, ValidationContext, ValidationRule, parse
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.schema.schema import validate_document

from .config import GraphQLSettings
from .document_cost import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DocumentCost, count_fragment_spreads
from .errors import DOMAIN, INVALID_ARGUMENT, invalid_argument

MAX_FRAGMENT_SPREADS = 32

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
TOO_MANY_FRAGMENT_SPREADS = "TOO_MANY_FRAGMENT_SPREADS"
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


class LimitsRule(ValidationRule):
    """Depth, aliases, complexity and fragment spreads, measured once per document (document_cost.py).

    Each broken limit is reported with its own reason; the work is linear in the
    document whatever its fragments expand to.
    """

    max_depth, max_aliases, max_complexity, max_spreads = 10, 15, 5000, MAX_FRAGMENT_SPREADS

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        for error in limit_errors(context.document, self.max_depth, self.max_aliases, self.max_complexity,
                                  self.max_spreads):
            context.report_error(error)


def limit_errors(document: DocumentNode, max_depth: int, max_aliases: int, max_complexity: int,
                 max_spreads: int = MAX_FRAGMENT_SPREADS) -> list[GraphQLError]:
    """The limits `document` breaks, as tagged GraphQLErrors (empty when it is within them)."""
    spreads = count_fragment_spreads(document)
    if spreads > max_spreads:  # refused before anything expands them
        return [_tag(GraphQLError(f"{spreads} fragment spreads found. Allowed: {max_spreads}"),
                     TOO_MANY_FRAGMENT_SPREADS)]
    errors = []
    operations = DocumentCost(document).figures()
    for operation in operations:
        if operation.depth > max_depth:
            errors.append(_tag(GraphQLError(
                f"'{operation.name}' exceeds maximum operation depth of {max_depth}"), QUERY_TOO_DEEP))
    aliases = sum(operation.aliases for operation in operations)
    if aliases > max_aliases:
        errors.append(_tag(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"), TOO_MANY_ALIASES))
    for operation in operations:
        if operation.cost > max_complexity:
            errors.append(_tag(GraphQLError(
                f"query complexity {operation.cost} exceeds the maximum of {max_complexity}: select fewer "
                f"fields, a smaller page_size or fewer aliases"), QUERY_TOO_COMPLEX))
    return errors


def limits_rule(settings: GraphQLSettings) -> type[ValidationRule]:
    return type("Limits", (LimitsRule,), {"max_depth": settings.max_depth, "max_aliases": settings.max_aliases,
                                          "max_complexity": settings.max_complexity})


def precheck(query: str, settings: GraphQLSettings) -> list[GraphQLError]:
    """The limits `query` breaks, found before strawberry parses and validates it.

    graphql-core's own validation rules run over the whole document too; a
    document refused here (too many tokens, spreads, depth, aliases or cost)
    never reaches them. Parse errors are left to strawberry (empty list).
    """
    try:
        document = parse(query, max_tokens=settings.max_tokens, no_location=True)
    except GraphQLError:  # strawberry parses it again and says why (TOO_MANY_TOKENS, PARSE_FAILED)
        return []
    return limit_errors(document, settings.max_depth, settings.max_aliases, settings.max_complexity)


class ValidateOffTheLoop(SchemaExtension):
    """Runs graphql-core's validation of the parsed document in a worker thread.

    `precheck` keeps every document that reaches validation small (tokens,
    spreads, depth, aliases, cost), but graphql-core's rules still compare
    fields pairwise: ~100 ms for 1,000 tokens on a loaded machine, long enough
    to delay /healthz. In a thread, the event loop keeps serving meanwhile
    (strawberry skips its own validation once `pre_execution_errors` is set).
    """

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.validation_rules and \
                context.pre_execution_errors is None:
            context.pre_execution_errors = await asyncio.to_thread(
                validate_document, context.schema._schema, context.graphql_document,
                tuple(context.validation_rules))
        yield


ExtensionFactory = Callable[[], SchemaExtension]


def limit_extensions(settings: GraphQLSettings) -> list[ExtensionFactory]:
    """Factories of the schema extensions that enforce the limits above (one set per request)."""
    rules: list[type[ValidationRule]] = [limits_rule(settings)]
    if not settings.introspection:
        rules.append(tagged(NoSchemaIntrospectionCustomRule, INTROSPECTION_DISABLED))
    return [functools.partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
            functools.partial(AddValidationRules, rules), ValidateOffTheLoop]
