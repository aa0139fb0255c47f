"""Stdlib-only probes the deploy scripts use before any virtualenv exists.

probe.py tcp HOST PORT         exit 0 when something accepts a TCP connection
probe.py kafka HOST PORT       exit 0 when a Kafka broker answers an ApiVersions request
probe.py clickhouse HOST PORT  exit 0 when ClickHouse answers /ping on its HTTP port
"""

from __future__ import annotations

import socket
import struct
import sys
import urllib.request


def tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def kafka(host: str, port: int) -> bool:
    client_id = b"pantau-probe"
    # ApiVersions v0: the one request every broker answers before version negotiation.
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(struct.pack(">i", len(body)) + body)
            # A buffered reader reads until it has the bytes asked for, the end or the timeout.
            with sock.makefile("rb") as replies:
                (size,) = struct.unpack(">i", replies.read(4))
                payload = replies.read(size)
    except (OSError, struct.error):
        return False
    if len(payload) < 6:
        return False
    correlation_id, error_code = struct.unpack(">ih", payload[:6])
    return correlation_id == 7 and error_code == 0


def clickhouse(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/ping", timeout=3) as response:
            return bool(response.read().strip() == b"Ok.")
    except OSError:
        return False


def main() -> int:
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    check = {"tcp": tcp, "kafka": kafka, "clickhouse": clickhouse}[kind]
    return 0 if check(host, port) else 1


if __name__ == "__main__":
    sys.exit(main())
