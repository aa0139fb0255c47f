"""Pantau sink service: the history of record, written from Kafka into ClickHouse."""
