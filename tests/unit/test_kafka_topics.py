"""Topics are replicated to fit the cluster they are created on."""

from __future__ import annotations

import pytest

from pantau.adapters.kafka_topics import ClusterView, PartitionView, replication_for


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_three_copies_two_in_sync_from_three_brokers(
    brokers: int, expected: tuple[int, int]
) -> None:
    """One copy on one broker, as many as there are up to three, two in sync for a write on
    three or more: one broker may fail without refusing or losing an acknowledged record."""
    assert replication_for(brokers) == expected


def test_a_partition_with_a_replica_out_of_sync_is_under_replicated() -> None:
    """The view names the partitions whose in-sync replicas lack one of the replicas."""
    view = ClusterView(
        brokers={1: "h:1", 2: "h:2", 3: "h:3"},
        topics={
            "p.events": [
                PartitionView(0, 1, (1, 2, 3), (1, 2, 3)),
                PartitionView(1, 2, (2, 3, 1), (2, 3)),
            ],
            "p.alerts": [PartitionView(0, 3, (3, 1, 2), (3, 1, 2))],
        },
    )
    assert view.under_replicated() == {"p.events": [1]}
    assert "topic p.events: 2 partitions, replication 3, leaders on [1, 2], 1 under-replicated" in (
        view.lines()
    )
