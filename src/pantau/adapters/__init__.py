"""Adapters shared by several processes: Kafka topics, ClickHouse schema and clients."""
