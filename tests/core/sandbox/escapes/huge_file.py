# Tries: fill the disk with one ever-growing file in the workspace.
# ruff: noqa
with open("big.bin", "wb") as fh:
    while True:
        fh.write(b"\0" * 1_000_000)
