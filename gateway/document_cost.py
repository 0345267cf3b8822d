"""Depth, aliases, complexity and fragment spreads of a GraphQL document, in linear time.

A fragment may be spread many times, and may spread other fragments: a chain of
n fragments, each spreading the previous one twice, stands for 2**n copies of
the first. Walking every path (what strawberry's depth and alias limiters and
a naive cost walk do) is exponential in the document: 29 such fragments froze
the gateway's event loop for minutes (issue 15, item 1). Here every fragment is
measured once and its figures are reused wherever it is spread (memoised), so
the work is proportional to the document's size whatever it expands to; the
figures themselves are exact big integers (2**29 aliases is reported as such).

The figures follow the rules the limits were written with:

- depth: strawberry's QueryDepthLimiter (a field with a selection set is one
  level; leaves, fragments and inline fragments add none; `__` fields count 0);
- aliases: strawberry's MaxAliasesLimiter (every aliased field, through spreads);
- complexity: limits.py's docstring (1 per field per object it is selected on,
  `payments` multiplies its subtree by its page size, RPC_COST per API call).

A fragment spread inside itself (a cycle, refused by graphql-core's own rules
later) counts zero, as the limiters did.
"""

from __future__ import annotations

import dataclasses

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

MAX_PAGE_SIZE = 100  # ListPaymentsRequest.page_size: 1 to 100
DEFAULT_PAGE_SIZE = 20  # what the API uses when page_size is 0
RPC_COST = 100
API_FIELDS = frozenset({"payment", "payments", "create_payment", "process_payment"})


@dataclasses.dataclass(frozen=True)
class Figures:
    """What one selection set stands for once every spread is expanded."""

    depth: int = 0  # strawberry's depth: levels of fields that have a selection set
    aliases: int = 0
    cost: int = 0  # complexity at multiplier 1 (linear in the multiplier below the root)

    def __add__(self, other: Figures) -> Figures:
        return Figures(max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost)


@dataclasses.dataclass(frozen=True)
class OperationFigures:
    name: str
    depth: int
    aliases: int
    cost: int


def count_fragment_spreads(document: DocumentNode) -> int:
    """How many `...Name` spreads the document's text holds (not what they expand to)."""
    count, stack = 0, [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while stack:
        selection_set = stack.pop()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FragmentSpreadNode):
                count += 1
            elif selection.selection_set is not None:
                stack.append(selection.selection_set)
    return count


def _page_size_for_cost(field: FieldNode) -> int:
    argument = next((a for a in field.arguments or () if a.name.value == "page_size"), None)
    if argument is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(argument.value, IntValueNode):
        try:
            return max(1, min(int(argument.value.value), MAX_PAGE_SIZE))
        except ValueError:
            return MAX_PAGE_SIZE
    return MAX_PAGE_SIZE  # a variable: assume the worst


class DocumentCost:
    """The figures of each operation of `document`; each fragment measured once per place kind."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        self._memo: dict[tuple[str, bool], Figures] = {}
        self._open: set[tuple[str, bool]] = set()

    def figures(self) -> list[OperationFigures]:
        result = []
        for operation in self.operations:
            measured = self._selections(operation.selection_set, at_root=True)
            name = operation.name.value if operation.name else "anonymous"
            result.append(OperationFigures(name, measured.depth, measured.aliases, measured.cost))
        return result

    def _selections(self, selection_set: SelectionSetNode | None, *, at_root: bool) -> Figures:
        total = Figures()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self._field(selection, at_root=at_root)
            elif isinstance(selection, InlineFragmentNode):
                total += self._selections(selection.selection_set, at_root=at_root)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value, at_root=at_root)
        return total

    def _spread(self, name: str, *, at_root: bool) -> Figures:
        key = (name, at_root)
        if key in self._memo:
            return self._memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or key in self._open:
            return Figures()
        self._open.add(key)
        try:
            measured = self._selections(fragment.selection_set, at_root=at_root)
        finally:
            self._open.discard(key)
        self._memo[key] = measured
        return measured

    def _field(self, field: FieldNode, *, at_root: bool) -> Figures:
        aliases = 1 if field.alias else 0
        if field.name.value.startswith("__"):  # introspection: no depth, no cost (aliases still count)
            inner = self._selections(field.selection_set, at_root=False)
            return Figures(0, aliases + inner.aliases, 0)
        inner = self._selections(field.selection_set, at_root=False)
        cost, multiplier = 1, 1
        if at_root and field.name.value in API_FIELDS:
            cost += RPC_COST
            if field.name.value == "payments":
                multiplier = _page_size_for_cost(field)
        depth = 1 + inner.depth if field.selection_set is not None else 0
        return Figures(depth, aliases + inner.aliases, cost + multiplier * inner.cost)
