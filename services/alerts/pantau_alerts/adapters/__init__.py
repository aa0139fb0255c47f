"""Adapters of the alerts service: Kafka log reader and publisher, webhook delivery."""
