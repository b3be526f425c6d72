# Tries: make a link in the workspace to /etc/passwd and read through it.
# ruff: noqa
import os

os.symlink("/etc/passwd", "passwd-link")
print(open("passwd-link").read())
