#!/usr/bin/env python3
"""Double-click entry point: starts Nexus Studio with the project's environment.

If this Python lacks the app's packages but the repository's ``.venv`` exists, re-run with that one.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _venv_python() -> Path:
    return ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


if __name__ == "__main__":
    try:
        import PySide6  # noqa: F401
    except ImportError:
        venv = _venv_python()
        if venv.exists() and Path(sys.executable).resolve() != venv.resolve():
            os.execv(str(venv), [str(venv), str(Path(__file__).resolve()), *sys.argv[1:]])
        sys.stderr.write("Nexus Studio is not set up yet. Run ./setup.sh run from the project folder "
                         f"({ROOT}).\n")
        sys.exit(2)
    sys.path.insert(0, str(ROOT))
    from app.main import main

    sys.exit(main())
