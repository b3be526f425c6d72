# Tries: read /etc/shadow (password hashes) and print it.
# ruff: noqa
print(open("/etc/shadow").read())
