# Tries: never finish (an empty infinite loop).
# ruff: noqa
while True:
    pass
