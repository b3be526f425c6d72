# Tries: list and read the user's SSH keys (~/.ssh and /root/.ssh).
# ruff: noqa
import os

for folder in (os.path.expanduser("~/.ssh"), "/root/.ssh"):
    print(folder, os.listdir(folder))
    print(open(os.path.join(folder, "id_rsa")).read())
