# Tries: allocate memory until the machine runs out (4 GB in 50 MB blocks).
# ruff: noqa
blocks = [bytearray(50_000_000) for _ in range(80)]
print(len(blocks))
