"""Waits, in a process of its own, until a Kafka cluster reaches a state after a broker was
killed, and prints the monotonic time at which it did (the clock is the machine's, so the test
process can compare it with its own).

    python cluster_watch.py SERVERS PREFIX TOPIC BROKER failed-over|in-sync [TIMEOUT]

failed-over: every partition of TOPIC has a leader that is not BROKER.
in-sync: BROKER is registered again and in sync on every partition of the stack (PREFIX).
"""

from __future__ import annotations

import sys
import time

from pantau.adapters.kafka_topics import ClusterView, describe_cluster


def reached(view: ClusterView, topic: str, broker: int, state: str) -> bool:
    if state == "failed-over":
        parts = view.topics.get(topic, [])
        return bool(parts) and all(p.leader not in (-1, broker) for p in parts)
    return (
        broker in view.brokers
        and view.under_replicated() == {}
        and all(broker in p.in_sync for parts in view.topics.values() for p in parts)
    )


def main(argv: list[str]) -> int:
    servers, prefix, topic, broker, state = argv[:5]
    deadline = time.monotonic() + (float(argv[5]) if len(argv) > 5 else 90)
    while time.monotonic() < deadline:
        try:
            view = describe_cluster(servers.split(","), prefix)
        except Exception as error:  # the cluster may not answer for a moment
            print(f"not yet: {error}", file=sys.stderr)
        else:
            if reached(view, topic, int(broker), state):
                print(time.monotonic())
                return 0
        time.sleep(0.25)
    print(f"{state} not reached", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
