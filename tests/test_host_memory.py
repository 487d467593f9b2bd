"""minigrad.host_memory: with the setting (the default on glibc), a large array comes from
malloc's heap and its memory stays there for the next one once freed; with
MINIGRAD_KEEP_MEMORY=0, malloc maps it afresh and unmaps it at free, as without minigrad.
Each case runs in a fresh interpreter: the setting is process-wide."""
import ctypes
import json
import os
import subprocess
import sys

import pytest

from minigrad import host_memory

PROBE = r"""
import ctypes, json
import numpy as np
import minigrad

class Mallinfo2(ctypes.Structure):  # glibc's struct mallinfo2 (all size_t)
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
block = np.ones(64 << 20, dtype=np.uint8)          # 64 MB, as a big activation
mapped = mallinfo2().hblkhd                         # bytes in mmapped blocks
del block
print(json.dumps({"mapped": mapped, "free_in_heap": mallinfo2().fordblks}))
"""


def _probe(**env):
    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_by_default_big_arrays_come_from_the_heap_and_stay_there_when_freed():
    got = _probe(MINIGRAD_KEEP_MEMORY="1")
    assert got["mapped"] < 64 << 20
    assert got["free_in_heap"] >= 64 << 20  # kept for the next array, not unmapped


def test_minigrad_keep_memory_0_leaves_malloc_alone():
    got = _probe(MINIGRAD_KEEP_MEMORY="0")
    assert got["mapped"] >= 64 << 20
    assert got["free_in_heap"] < 64 << 20


def test_apply_default_reads_the_opt_out(monkeypatch):
    monkeypatch.setenv("MINIGRAD_KEEP_MEMORY", "0")
    assert host_memory.apply_default() is False
