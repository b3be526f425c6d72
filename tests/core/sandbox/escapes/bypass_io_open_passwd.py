# Tries: io.open on a path assembled at run time, so the gate sees no absolute path.
# ruff: noqa
import io

print(io.open("/et" + "c/pas" + "swd").read())
