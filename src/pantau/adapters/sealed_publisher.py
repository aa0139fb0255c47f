"""Publishing events straight to `pantau.events` with their personal data sealed.

For agency backends that publish to Kafka instead of calling the HTTP intake:

    from pantau.adapters.sealed_publisher import SealedEventPublisher
    from pantau.core.sealing import MasterKey

    publisher = SealedEventPublisher(["kafka:9092"], "pantau.", MasterKey(secret))
    publisher.publish([event_document, ...], now=datetime.now(UTC))
    publisher.close()

Each event is validated as the contract's event (a raw NIK is refused as everywhere), its reason
and personal attributes are sealed under its applicant's data key, the new data keys are written
to the key store and acknowledged, and only then are the events written and acknowledged (acks=
all). An event is therefore never on Kafka before the key that opens it. The format of the
envelope and of the key records is in docs/contract-extensions.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from pantau.adapters.kafka_client import KafkaProducer
from pantau.adapters.key_store import publish_keys
from pantau.core.events import Event, event_key
from pantau.core.sealing import ApplicantKeys, MasterKey
from pantau.settings import TopicNames

__all__ = ["SealedEventPublisher"]


class SealedEventPublisher:
    """Seals and publishes events; blocking (use it outside an event loop, or in a thread)."""

    def __init__(
        self,
        servers: list[str],
        topic_prefix: str,
        master: MasterKey,
        keys: ApplicantKeys | None = None,
    ) -> None:
        self.topics = TopicNames(topic_prefix)
        self.keys = keys if keys is not None else ApplicantKeys(master)
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=servers, client_id="pantau-sealed-publisher", acks="all"
            )
        except KafkaError as error:
            raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {error}") from error

    def publish(self, documents: Sequence[Mapping[str, Any]], now: datetime) -> list[Event]:
        """Validate, seal and publish the events; return them as published. Raises
        pydantic.ValidationError for an invalid event (nothing is published) and RuntimeError
        when Kafka did not acknowledge (publishing again is safe: events are deduplicated by
        `event_id`, and a key written twice is only an unused key)."""
        valid = [
            Event.model_validate(document).model_dump(mode="json", exclude_none=True)
            for document in documents
        ]
        sealed, records = self.keys.seal_events(valid, now)
        events = [Event.model_validate(document) for document in sealed]
        publish_keys(self._producer, self.topics.applicant_keys, records)
        try:
            futures = [
                self._producer.send(
                    self.topics.events,
                    key=event_key(event.agency, event.case_id),
                    value=event.to_json_bytes(),
                )
                for event in events
            ]
            self._producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
        except KafkaError as error:
            raise RuntimeError(f"cannot publish to {self.topics.events}: {error}") from error
        return events

    def close(self) -> None:
        """Flush what is pending and close the connections."""
        self._producer.close()
