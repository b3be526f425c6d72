# Tries: unbounded recursion to crash the interpreter.
# ruff: noqa
# Contained-by: failure (an error ends it; nothing for the guard to refuse)
def down(n: int) -> int:
    return down(n + 1) + 1


down(0)
