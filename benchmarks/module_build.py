"""Module builds against a scripted model replaying recorded good, flawed and hostile answers.

Reports how many builds end installed and live (after approval, a real call to a loopback mock API), how many
are correctly stopped, how many self-debug rounds were needed, and the build cycle time excluding the model's
own time (writing the files, the static reviews, the sandboxed tests; target: median < 5 s).

    .venv/bin/python benchmarks/module_build.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.core import Core
from nexus_core.evolve.install import install_build, integration_test
from nexus_core.evolve.mock_api import MockApi, MockApiSpec
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring
from tests.support.recorded_builds import BOOK_API_ROUTES, recorded_builds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, ScriptedOpenAIServer(models=["coder"]) as server, \
            MockApi(MockApiSpec.model_validate(BOOK_API_ROUTES)) as api:
        os.environ["NEXUS_HOME"] = home
        core = Core.open(Path(home), keyring_backend=MemoryKeyring())
        try:
            core.providers.save(ProviderConfig(name="rec", kind="openai", preset="custom", base_url=server.base_url,
                                               models=["coder"]))
            core.routing.save(RoutingTable(tiers={t: Assignment(model="rec/coder")
                                                  for t in ("standard", "heavy", "ultra")}))
            cycle: list[float] = []
            rows = []
            for repeat in range(args.repeat):
                for build in recorded_builds():
                    server.script(*[text([a]) for a in build.for_host(api.host)])
                    result = core.builder.build(build.description)
                    outcome = "stopped"
                    if result.status == "ready":
                        install_build(core.modules, result)
                        live = integration_test(core.modules, result)
                        outcome = "live" if live.status == "live" else f"installed, {live.status}"
                        core.modules.remove(result.manifest.name)  # the next good build installs afresh
                    if server.pending:
                        raise SystemExit(f"{build.label}: {server.pending} recorded answers were not asked for")
                    cycle.append(result.cycle_seconds)
                    if repeat == 0:
                        rows.append((build, result, outcome))
            print(f"{'recorded build':34s} {'expected':9s} {'outcome':9s} {'fix rounds':>10s} {'category':>9s} "
                  f"{'cycle s':>8s} {'model s':>8s}")
            for build, result, outcome in rows:
                print(f"{build.label:34s} {build.expect:9s} {outcome:9s} {result.fix_rounds:>10d} "
                      f"{result.category or '':>9s} {result.cycle_seconds:8.2f} {result.model_seconds:8.2f}")
            good = [r for r in rows if r[0].expect == "ready"]
            bad = [r for r in rows if r[0].expect == "failed"]
            installed = sum(1 for _b, _r, outcome in good if outcome == "live")
            stopped = sum(1 for _b, result, _o in bad if result.status == "failed")
            debug_rounds = [result.fix_rounds for _b, result, _o in rows]
            print(f"\ninstalled and live: {installed} of {len(good)} good builds")
            print(f"correctly stopped: {stopped} of {len(bad)} flawed or hostile builds "
                  f"(categories: {', '.join(sorted({r.category or '?' for _b, r, _o in bad}))})")
            print(f"self-debug rounds: {sum(debug_rounds)} in all; {good[1][1].fix_rounds} for the flawed build "
                  "that was repaired; stopped builds used all 3")
            print(f"build cycle time excluding model time over {len(cycle)} builds: median "
                  f"{statistics.median(cycle):.2f} s, max {max(cycle):.2f} s (target: median < 5 s)")
        finally:
            core.close(job_timeout=5)


if __name__ == "__main__":
    main()
