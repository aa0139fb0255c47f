"""The sink's adapters: the Kafka consumer and its Prometheus metrics."""
