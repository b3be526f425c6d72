# Tries: load libc through ctypes and call system() directly, below every Python-level check.
# ruff: noqa
import ctypes

ctypes.CDLL(None).system(b"touch NEXUS_MARKER_TMP")
