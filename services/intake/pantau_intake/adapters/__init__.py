"""The intake's adapters: the Kafka producer behind the `EventPublisher` port."""
