"""The mmap threshold the tracker fixes at start (glibc only)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from pantau.heap import fixed_mmap_threshold

GLIBC = platform.libc_ver()[0] == "glibc"

# Frees a 4 MiB buffer (which moves glibc's threshold up unless it is fixed), then allocates
# 64 buffers of 1 MiB and one of 100 KiB after them, frees the large ones, and prints how much the
# process's resident memory grew meanwhile: with the threshold moving, they came from the heap,
# which keeps them below the one still in use.
PROBE = """
import ctypes, sys
from pantau.heap import fixed_mmap_threshold
if sys.argv[1] == "fixed":
    assert fixed_mmap_threshold()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
big = libc.malloc(4 << 20); libc.memset(big, 1, 4 << 20); libc.free(big)
before = rss()
held = []
for _ in range(64):
    block = libc.malloc(1 << 20); libc.memset(block, 1, 1 << 20); held.append(block)
pin = libc.malloc(100 << 10)  # on the heap above them: the heap cannot shrink below it
for block in held:
    libc.free(block)
print((rss() - before) >> 20)
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_the_threshold_is_fixed_on_glibc() -> None:
    assert fixed_mmap_threshold() is True


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_large_buffers_go_back_to_the_system_once_the_threshold_is_fixed() -> None:
    def kept_mib(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    assert kept_mib("moving") >= 32  # the heap keeps what it served
    assert kept_mib("fixed") <= 4
