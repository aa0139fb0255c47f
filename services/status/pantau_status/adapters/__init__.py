"""Kafka for the status service."""
