"""Bringing an agency database's copies up to a migrated history table (pure statements)."""

from __future__ import annotations

from pantau.history.auditors import Column, missing_column_statements


def test_missing_columns_are_added_to_a_copy_in_the_tables_order_with_their_defaults() -> None:
    """Only the columns the copy lacks, with their DEFAULT; computed columns are not stored."""
    source = [
        Column("agency", "String"),
        Column("version", "UInt32", "DEFAULT", "0"),
        Column("valid_from", "DateTime", "DEFAULT", "toDateTime(0)"),
        Column("shown", "String", "ALIAS", "agency"),
    ]
    assert missing_column_statements("`db__a`.`.inner.t`", source, {"agency"}) == [
        "ALTER TABLE `db__a`.`.inner.t` ADD COLUMN `version` UInt32 DEFAULT 0",
        "ALTER TABLE `db__a`.`.inner.t` ADD COLUMN `valid_from` DateTime DEFAULT toDateTime(0)",
    ]
    assert (
        missing_column_statements("`db__a`.`.inner.t`", source, {"agency", "version", "valid_from"})
        == []
    )
