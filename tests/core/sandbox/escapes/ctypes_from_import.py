# Tries: reach ctypes with a from-import and read raw memory via string_at.
# ruff: noqa
from ctypes import string_at

print(string_at(id(object), 64))
