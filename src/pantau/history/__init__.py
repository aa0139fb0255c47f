"""The history of record: the ClickHouse sink, tamper evidence and the auditors' tools."""
