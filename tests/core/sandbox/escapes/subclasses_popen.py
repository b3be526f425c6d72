# Tries: find subprocess.Popen among object's subclasses and start a shell with it.
# ruff: noqa
# Contained-by: failure (an error ends it; nothing for the guard to refuse)
for cls in object.__subclasses__():
    if cls.__name__ == "Popen":
        cls(["touch", "NEXUS_MARKER_TMP"])
raise SystemExit("Popen was not reachable")
