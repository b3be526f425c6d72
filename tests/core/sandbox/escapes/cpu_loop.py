# Tries: burn CPU on arithmetic for far longer than allowed.
# ruff: noqa
total = 0
for i in range(10**12):
    total += i * i
print(total)
