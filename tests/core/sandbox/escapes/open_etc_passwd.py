# Tries: read /etc/passwd and print it.
# ruff: noqa
print(open("/etc/passwd").read())
