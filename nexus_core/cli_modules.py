"""``nexus modules``: list, build, validate, install, enable/disable, remove, rollback, call, credentials."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("modules", help="integration modules: list, validate, install, call, credentials")
    msub = p.add_subparsers(dest="modules_command", required=True, metavar="ACTION")
    q = msub.add_parser("list", help="built-in and installed modules with their state and health")
    q.add_argument("--json", action="store_true")
    q = msub.add_parser("validate", help="schema, compile, AST gate and the module's tests in the sandbox")
    q.add_argument("dir", type=Path)
    q.add_argument("--json", action="store_true")
    q = msub.add_parser("install", help="validate a module folder, then install it as a new version")
    q.add_argument("dir", type=Path)
    q.add_argument("--yes", action="store_true", help="install without asking")
    for name, text in (("enable", "enable a module"), ("disable", "disable (and stop) a module"),
                       ("remove", "stop an installed module and archive its files"),
                       ("health", "run the module's health check")):
        q = msub.add_parser(name, help=text)
        q.add_argument("name")
    q = msub.add_parser("build", help="have the code-generation model write, test and (with approval) install a "
                                      "module from a description")
    q.add_argument("description", help='what the module should do, e.g. "track my Steam playtime"')
    q.add_argument("--yes", action="store_true", help="install without asking once it passes validation")
    q.add_argument("--model", metavar="PROVIDER/MODEL", help="use this model instead of the code-generation one")
    q.add_argument("--json", action="store_true", help="print the build, install and integration results as JSON")
    q = msub.add_parser("rollback", help="make an earlier installed version the active one")
    q.add_argument("name")
    q.add_argument("version")
    q = msub.add_parser("call", help="call one operation of a module")
    q.add_argument("name")
    q.add_argument("operation")
    q.add_argument("--args", default="{}", metavar="JSON", help='arguments as a JSON object, e.g. \'{"city": "Oslo"}\'')
    q = msub.add_parser("credentials", help="set or forget a module's credential (value read from stdin)")
    csub = q.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    r = csub.add_parser("set", help="store a credential; the value is read from stdin, never the command line")
    r.add_argument("name")
    r.add_argument("key")
    r = csub.add_parser("forget", help="delete a stored credential")
    r.add_argument("name")
    r.add_argument("key")
    p.set_defaults(func=cmd_modules)


def cmd_modules(args: argparse.Namespace) -> int:
    if args.modules_command == "validate":
        return _validate(args)
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)
    try:
        return _ACTIONS[args.modules_command](core, args)
    finally:
        core.close()


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    title = f"{report.manifest.name} {report.manifest.version}" if report.manifest else str(report.folder)
    print(f"{title}: {'passed' if report.passed else 'FAILED'} ({report.duration_s:.1f} s)")
    for check in report.checks:
        print(f"  {'ok  ' if check.passed else 'FAIL'} {check.name:<9} {check.detail}")


def _validate(args: argparse.Namespace) -> int:
    from nexus_core.modules.validate import validate_module

    if not args.dir.is_dir():
        raise NexusError("The module folder does not exist." if not args.dir.exists() else "That is not a folder.",
                         path=args.dir, hint="Pass the folder that holds manifest.json.")
    report = validate_module(args.dir)
    _print_report(report, args.json)
    return 0 if report.passed else 1


def _list(core: Any, args: argparse.Namespace) -> int:
    statuses = core.modules.statuses()
    if args.json:
        print(json.dumps([s.to_dict() for s in statuses], indent=2))
        return 0
    if not statuses:
        print("No modules.")
    for s in statuses:
        extra = f" (needs {', '.join(s.missing_credentials)})" if s.missing_credentials else ""
        print(f"{s.name:<24} {s.version:<9} {s.source:<9} {s.state:<17} {s.display_name}{extra}")
    for folder, why in core.modules.registry.problems:
        print(f"nexus: cannot read module {folder}: {why}", file=sys.stderr)
    return 0


def _install(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.modules.service import ModuleValidationError

    report = core.modules.validate(args.dir)
    _print_report(report, False)
    if not report.passed:
        return 1
    m = report.manifest
    if not args.yes:
        if not sys.stdin.isatty():
            print("nexus: not installed: pass --yes to install without a terminal to ask", file=sys.stderr)
            return 1
        hosts = ", ".join(m.network_hosts) or "none"
        creds = ", ".join(c.name for c in m.credentials) or "none"
        answer = input(f"Install {m.display_name} {m.version}? It may reach: {hosts}; credentials: {creds}. "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not installed.")
            return 1
    try:
        status = core.modules.install(args.dir, approved_by="cli")
    except ModuleValidationError as exc:
        print(f"nexus: {exc.what}", file=sys.stderr)
        return 1
    print(f"Installed {status.name} {status.version}: {status.state}.")
    return 0


def _simple(action: str) -> Any:
    def run(core: Any, args: argparse.Namespace) -> int:
        getattr(core.modules, action)(args.name)
        print(f"{args.name}: {core.modules.status(args.name).state}" if action != "remove" else f"Removed {args.name}.")
        return 0

    return run


def _health(core: Any, args: argparse.Namespace) -> int:
    ok = core.modules.health_check(args.name)
    status = core.modules.status(args.name)
    print(f"{args.name}: {'healthy' if ok else 'unhealthy'}" + (f" ({status.last_error})" if status.last_error else ""))
    return 0 if ok else 1


def _rollback(core: Any, args: argparse.Namespace) -> int:
    status = core.modules.rollback(args.name, args.version)
    print(f"{args.name} is now at {status.version}.")
    return 0


def _call(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.cli import json_object_arg
    from nexus_core.modules.worker import ModuleCallError

    arguments = json_object_arg(args.args, "--args", '{"city": "Oslo"}')
    try:
        value = core.modules.call(args.name, args.operation, arguments)
    except ModuleCallError as exc:
        print(f"nexus: {exc.kind}: {exc.what}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return 1
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    return 0


def _credentials(core: Any, args: argparse.Namespace) -> int:
    if args.credentials_command == "forget":
        removed = core.modules.forget_credential(args.name, args.key)
        print(f"{'Forgot' if removed else 'There was no'} {args.key} for {args.name}.")
        return 0
    prompt = f"{args.key} for {args.name}: "
    value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().strip()
    core.modules.set_credential(args.name, args.key, value)
    print(f"Stored {args.key} for {args.name} ({core.credentials.mode} mode).")
    return 0


def _build(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.evolve.install import approval_facts, install_build, integration_test, reject_build

    def progress(event: Any) -> None:
        if not args.json:
            print(f"nexus: {event.message}", file=sys.stderr)

    result = core.builder.build(args.description, model=args.model, progress=progress)
    out: dict[str, Any] = {"build": result.to_dict(), "installed": False, "integration": None}
    if result.status != "ready":
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"Not built: {result.message}")
            for round_ in result.rounds:
                print(f"  round {round_.number}: " + ("; ".join(round_.problems) or "passed")[:600])
        return 1
    facts = approval_facts(result, core.modules)
    if not args.json:
        print(f"\n{facts['display_name']} ({facts['name']} {facts['version']}): {facts['description']}\n"
              f"  reaches:     {', '.join(facts['hosts']) or 'no network'}\n"
              f"  credentials: {', '.join(facts['credentials']) or 'none'}\n"
              f"  files:       {facts['files']}\n  sandbox:     {facts['sandbox']}\n"
              f"  tests:       {facts['tests']}\n  operations:  {', '.join(facts['operations'])}\n"
              f"  code:        {facts['folder']} (" + ", ".join(
                  f"{name} {len(text.splitlines())} lines" for name, text in facts["code"].items()) + ")")
    if not args.yes:
        if not sys.stdin.isatty():
            reject_build(result, core.builder.records)
            print("nexus: not installed: pass --yes to install without a terminal to ask", file=sys.stderr)
            return 1
        if input("Install it? [y/N] ").strip().lower() not in ("y", "yes"):
            reject_build(result, core.builder.records)
            print("Not installed; the build stays in " + facts["folder"])
            return 1
    status = install_build(core.modules, result, approved_by="cli", records=core.builder.records)
    out["installed"] = True
    if status.missing_credentials and sys.stdin.isatty() and not args.json:
        for key in status.missing_credentials:
            core.modules.set_credential(status.name, key, getpass.getpass(f"{key} for {status.name}: "))
    outcome = integration_test(core.modules, result, core.builder.records)
    out["integration"] = outcome.to_dict()
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"Installed {status.name} {status.version}. Integration test: {outcome.status}: {outcome.detail}")
        if outcome.status == "needs_credentials":
            for key in status.missing_credentials:
                print(f"  then: nexus modules credentials set {status.name} {key}")
    return 1 if outcome.status == "failed" else 0


_ACTIONS = {"list": _list, "build": _build, "install": _install, "enable": _simple("enable"),
            "disable": _simple("disable"), "remove": _simple("remove"), "health": _health, "rollback": _rollback,
            "call": _call, "credentials": _credentials}
