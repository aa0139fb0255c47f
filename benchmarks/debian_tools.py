"""Command-line tools the benchmarks drive, installed from Debian when missing and we may."""

from __future__ import annotations

import os
import shutil
import subprocess


def ensure_tool(command: str, package: str | None = None) -> str:
    """The path of `command`, installing its Debian package (`package`, by default named as
    the command) with apt-get when it is missing and the process runs as root."""
    package = package or command
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing the Debian package {package} ...", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", package],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which(command)
    if not found:
        raise SystemExit(f"{command} is not installed: sudo apt-get install -y {package}")
    return found
