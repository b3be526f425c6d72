"""``nexus evolve``: run co-evolution rounds now, or show how the loop is doing.

    nexus evolve run [--rounds N] [--json]   # each round: a challenge, a build, a real check against a mock service
    nexus evolve status [--json]             # template versions, success rate, failure categories, budget
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evolve", help="the co-evolution loop: practise building modules, or show its progress")
    esub = p.add_subparsers(dest="evolve_command", required=True, metavar="ACTION")
    q = esub.add_parser("run", help="run co-evolution rounds now (within today's call budget)")
    q.add_argument("--rounds", type=int, default=1, help="how many rounds (default 1)")
    q.add_argument("--mock-port", type=int, default=0, metavar="PORT",
                   help="serve the practice services on this loopback port (default: any free one)")
    q.add_argument("--json", action="store_true")
    q = esub.add_parser("status", help="template versions, build success over time, failure categories")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evolve)


def cmd_evolve(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers
    from nexus_core.errors import NexusError

    if args.evolve_command == "run" and args.rounds < 1:
        raise NexusError("--rounds must be at least 1.")
    core = open_core_for_providers(args)
    try:
        if args.evolve_command == "status":
            return _status(core.evolve.status(), args.json)
        outcomes = core.evolve.run(args.rounds, mock_port=args.mock_port, progress=None if args.json else
                                   (lambda text: print(f"nexus: {text}", file=sys.stderr)))
        if args.json:
            print(json.dumps([o.to_dict() for o in outcomes], indent=2))
        else:
            for number, outcome in enumerate(outcomes, 1):
                print(f"round {number}: {outcome.status}: {outcome.detail}"
                      + (f" [{outcome.category}]" if outcome.category else "")
                      + (f"; template v{outcome.template_version} written" if outcome.template_version else ""))
            print(f"model calls today: {core.evolve.calls_today()} of {core.settings.evolve_daily_calls}")
        return 0 if any(o.status == "passed" for o in outcomes) or not outcomes else 1
    finally:
        core.close()


def _status(status: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    rate = status["success_rate"][-1][1] if status["success_rate"] else None
    print(f"co-evolution: {'on' if status['enabled'] else 'off'} · {status['rounds']} round(s), "
          f"{status['passed']} passed" + (f", recent success rate {rate:.0%}" if rate is not None else "")
          + f" · model calls today {status['calls_today']} of {status['budget']}")
    difficulty, patterns = status["next"]
    print(f"next: difficulty {difficulty}, patterns {', '.join(patterns)}")
    print("failures by category: " + ", ".join(f"{k} {v}" for k, v in status["failure_categories"].items()))
    print("templates:")
    for template in status["templates"]:
        print(f"  v{template['version']}: {template['note']}"
              + (f" (examples: {', '.join(template['patterns'])})" if template["patterns"] else ""))
    if status["challenges"]:
        print("recent challenges:")
        for c in status["challenges"][:10]:
            print(f"  #{c['id']} {c['pattern']} (difficulty {c['difficulty']}): {c['outcome'] or 'open'}"
                  + (f" [{c['category']}]" if c["category"] else "") + f" — {c['title']}")
    return 0
