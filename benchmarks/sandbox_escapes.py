"""The escape-corpus figure: corpus size, and how many attempts were contained with and without bubblewrap.

Runs every file of tests/core/sandbox/escapes/ in mode "code" with the test suite's short limits and
judges containment exactly as the tests do (tests/core/sandbox/test_escapes.py). Three configurations:
full stack with bubblewrap, full stack without it, and without it and without the AST gate.

    .venv/bin/python benchmarks/sandbox_escapes.py [-v]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.sandbox import Sandbox, sandbox_capabilities
from tests.core.sandbox.conftest import FAST, connections_to
from tests.core.sandbox.test_escapes import CORPUS_FILES, breaches, prepare


def contained_count(use_bwrap: bool, gate: bool, server: socket.socket, verbose: bool) -> int:
    contained = 0
    for path in CORPUS_FILES:
        secret = f"nexus-bench-secret-{uuid.uuid4().hex}"
        os.environ["NEXUS_TEST_SECRET"] = secret
        attempt = prepare(path, server.getsockname()[1], secret)
        result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap, ast_gate=gate).run_code(attempt.code)
        found = breaches(attempt, result, connections_to(server))
        for marker in attempt.markers:
            marker.unlink(missing_ok=True)
        contained += not found
        if verbose or found:
            print(f"  {path.stem:<32} {'contained' if not found else 'NOT contained: ' + '; '.join(found)}"
                  f"  ({result.summary()[:90]})")
    return contained


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per attempt")
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    caps = sandbox_capabilities()
    size = len(CORPUS_FILES)
    print(f"escape corpus: {size} attempts")
    configs = [("with bubblewrap", True, True)] if caps.bubblewrap else []
    configs += [("without bubblewrap", False, True), ("without bubblewrap or AST gate", False, False)]
    all_contained = True
    for label, use_bwrap, gate in configs:
        if args.verbose:
            print(f"{label}:")
        count = contained_count(use_bwrap, gate, server, args.verbose)
        all_contained &= count == size
        print(f"contained {label}: {count}/{size}")
    if not caps.bubblewrap:
        print(f"with bubblewrap: not measured ({caps.reason})")
    return 0 if all_contained else 1


if __name__ == "__main__":
    sys.exit(main())
