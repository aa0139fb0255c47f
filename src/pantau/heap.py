"""How the long-running processes keep the C allocator from holding on to large freed buffers."""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's `mallopt` parameter for the mmap threshold
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed


def fixed_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold where it starts, as `MALLOC_MMAP_THRESHOLD_` would.

    glibc serves an allocation of 128 KiB or more with its own mapping and returns that to the
    system when it is freed; but each such free raises the threshold to the freed size (up to
    32 MiB), and from then on buffers of that size come from the heap, which keeps their pages
    once they are freed. The tracker sends a batch's case views and alerts as record batches
    of a few hundred KiB and produce requests of a few MiB: with the moving threshold, a worker
    that took 200,000 new cases kept 55-110 MiB more than with it fixed (`bench_stack.py
    --recovery-only`). Call it at start, before the process takes records. False where the C
    library has no `mallopt` (not glibc): nothing changes there.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
