# Tries: print the environment, hoping for the parent's secrets.
# ruff: noqa
import os

print(dict(os.environ))
