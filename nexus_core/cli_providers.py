"""``nexus providers``: list, detect, add, remove, set keys, list models."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.providers.presets import PRESETS


def add_parser(sub: Any) -> None:
    p = sub.add_parser("providers", help="LLM providers: list, detect local servers, add, keys")
    psub = p.add_subparsers(dest="providers_command", required=True, metavar="ACTION")
    q = psub.add_parser("list", help="saved providers")
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("detect", help="probe Ollama, LM Studio, llama.cpp and vLLM on their default ports")
    q.add_argument("--json", action="store_true")
    q.add_argument("--save", action="store_true", help="save each server found as a provider")
    q = psub.add_parser("add", help="save a provider")
    q.add_argument("name")
    q.add_argument("--preset", choices=sorted(PRESETS), default="custom")
    q.add_argument("--base-url", default=None)
    q.add_argument("--folder", default=None, help="local model folder (preset 'local')")
    q.add_argument("--fusion-bundle", default="", metavar="DIR",
                   help="preset 'local': a fusion bundle (nexus fuse train) so the model reads attached pictures, "
                        "sound or video")
    q.add_argument("--api-key-env", metavar="VAR", default="", help="read the key from this variable at use time")
    q = psub.add_parser("remove", help="forget a provider and its key")
    q.add_argument("name")
    q = psub.add_parser("set-key", help="store a provider's API key (read from stdin or a hidden prompt)")
    q.add_argument("name")
    q = psub.add_parser("models", help="list a provider's models")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_providers)


def cmd_providers(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)
    try:
        return _ACTIONS[args.providers_command](core, args)
    finally:
        core.close()


def _list(core: Any, args: argparse.Namespace) -> int:
    rows = []
    for c in core.providers.configs():
        key = "stored" if core.providers.has_stored_key(c.name) else (f"${c.key_env}" if c.key_env else "none")
        rows.append({"name": c.name, "kind": c.kind, "preset": c.preset, "base_url": c.base_url,
                     "folder": c.folder, "key": key, "enabled": c.enabled, "models": c.models})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No providers saved. Try `nexus providers detect --save` or `nexus providers add`.")
    for r in rows:
        where = r["base_url"] or r["folder"]
        print(f"{r['name']:<16} {r['preset']:<11} {where:<40} key: {r['key']:<8} models: {len(r['models'])}")
    return 0


def _detect(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.firstrun import save_detected_server
    from nexus_core.providers.detect import detect_local_servers

    found = core.aio.run(detect_local_servers(), timeout=30)
    if args.save:
        for server in found:
            save_detected_server(core.providers, server)
    if args.json:
        print(json.dumps([{"server": s.preset.label, "preset": s.preset.id, "base_url": s.base_url,
                           "models": s.models, "note": s.note} for s in found], indent=2))
        return 0
    if not found:
        print("No local LLM server answered on the default ports (Ollama 11434, LM Studio 1234, "
              "llama.cpp 8080, vLLM 8000).")
        return 0
    for s in found:
        models = ", ".join(s.models) if s.models else s.note
        print(f"{s.preset.label:<18} {s.base_url:<28} {models}")
    if args.save:
        print(f"Saved {len(found)} provider(s).")
    return 0


def _add(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.providers.config import ProviderConfig

    preset = PRESETS[args.preset]
    config = ProviderConfig(name=args.name, kind=preset.kind, preset=preset.id,
                            base_url=args.base_url if args.base_url is not None else preset.base_url,
                            folder=args.folder or "", key_env=args.api_key_env, fusion_bundle=args.fusion_bundle)
    existing = core.providers.config(args.name)
    core.providers.save(config, replaces=existing.name if existing else None)
    print(f"Saved provider {args.name!r} ({preset.label}).")
    if preset.needs_key and not args.api_key_env and not core.providers.has_stored_key(args.name):
        print(f"It needs an API key: nexus providers set-key {args.name}", file=sys.stderr)
    return 0


def _remove(core: Any, args: argparse.Namespace) -> int:
    if not core.providers.remove(args.name):
        raise NexusError(f"There is no saved provider named {args.name!r}.", hint="See `nexus providers list`.")
    print(f"Removed provider {args.name!r} and its stored key.")
    return 0


def _set_key(core: Any, args: argparse.Namespace) -> int:
    if core.providers.config(args.name) is None:
        raise NexusError(f"There is no saved provider named {args.name!r}.", hint="Add it first.")
    key = getpass.getpass(f"API key for {args.name}: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    core.providers.set_api_key(args.name, key or None)
    print(f"{'Stored' if key else 'Removed'} the API key of {args.name!r} ({core.credentials.mode} mode).")
    return 0


def _models(core: Any, args: argparse.Namespace) -> int:
    models = core.aio.run(core.providers.list_models(args.name), timeout=60)
    if args.json:
        print(json.dumps([{"id": m.id, "context_length": m.context_length, "owned_by": m.owned_by}
                          for m in models], indent=2))
    else:
        for m in models:
            print(m.id)
    return 0


_ACTIONS = {"list": _list, "detect": _detect, "add": _add, "remove": _remove, "set-key": _set_key,
            "models": _models}
