# Tries: flood stdout to exhaust the parent's memory.
# ruff: noqa
line = "x" * 10_000
while True:
    print(line)
