"""The write path's raw SQL (sent by asyncpg) names only tables and columns tables.py declares."""

from __future__ import annotations

import re

import pytest

from service.adapters import event_tables  # noqa: F401 - registers the event tables in metadata
from service.adapters.hot_statements import ALL
from service.adapters.processors.inhouse.postgres_ledger import ADD_PAYMENT_ONCE
from service.adapters.tables import metadata

STATEMENTS = {**ALL, "ADD_PAYMENT_ONCE": ADD_PAYMENT_ONCE}
COLUMNS = {table.name: set(table.c.keys()) for table in metadata.tables.values()}


def named_columns(sql: str) -> list[tuple[str, str]]:
    """(table, column) of every column the statement names: INSERT INTO t (a, b), UPDATE t SET a=,
    and t.a references."""
    found = []
    for table, names in re.findall(r"INSERT INTO (\w+) \(([^)]*)\)", sql):
        found += [(table, name.strip()) for name in names.split(",")]
    for table, assignments in re.findall(r"UPDATE (\w+) SET (.*?) WHERE", sql, re.S):
        found += [(table, name) for name in re.findall(r"(\w+)=", assignments)]
    found += re.findall(r"\b([a-z_]+)\.([a-z_]+)\b", sql)
    return found


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_every_raw_statement_names_only_columns_that_exist(name):
    sql = STATEMENTS[name].sql
    aliases = set(re.findall(r"(\w+) AS \(", sql)) | set(re.findall(r"\) AS (\w+)\(", sql)) | {"r"}
    table_aliases = {alias: table for table, alias in re.findall(r"\b(\w+) AS (\w+)\b", sql) if table in COLUMNS}
    named = [(table_aliases.get(table, table), column) for table, column in named_columns(sql) if table not in aliases]
    assert named, f"{name}: no column found to check in {sql}"
    unknown = [f"{table}.{column}" for table, column in named if column not in COLUMNS.get(table, ())]
    assert unknown == [], f"{name} names columns tables.py does not declare: {unknown}"


def test_the_check_would_catch_a_misspelt_column():
    unknown = [c for t, c in named_columns("UPDATE payments SET statuz=$1 WHERE payments.payment_id = $2")
               if c not in COLUMNS[t]]
    assert unknown == ["statuz"]


def test_parameters_are_bound_by_name_in_the_compiled_order():
    statement = ALL["COMPLETE_KEY"]
    args = statement.args({"merchant_id": "acct_1", "key": "k", "response": {"a": 1}})
    assert dict(zip(statement.names, args, strict=True)) == {
        "state": "completed", "response": '{"a": 1}', "merchant_id": "acct_1", "key": "k"}
