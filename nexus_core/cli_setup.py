"""``nexus setup``: the first-run wizard without a window. It reports the GPU, CUDA, keyring, model folders and
local LLM servers, saves a chat provider (the first local server with a model, or the one named), makes its model
the default for chat, and sends one hello through it. With nothing to use it prints the next steps; exit 1."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.providers.presets import PRESETS


def add_parser(sub: Any) -> None:
    p = sub.add_parser("setup", help="first-run check and set-up: GPU, keyring, models, a chat provider that answers",
                       description="Find what this computer offers and end with a chat provider that answers.")
    p.add_argument("--provider", choices=sorted(k for k in PRESETS if k not in ("custom", "local")),
                   help="the provider to use: a local server found on this machine (ollama, lmstudio…) or a hosted "
                        "one (openrouter, openai, anthropic) with --api-key-env")
    p.add_argument("--model", help="the model to make the default (default: the server's first, or the first listed)")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="environment variable holding the hosted provider's key (saved in the credential store)")
    p.add_argument("--remember-data-folder", metavar="PATH",
                   help="use PATH as the data folder from now on (unless $NEXUS_HOME or --data-dir say otherwise)")
    p.add_argument("--torch", action="store_true", help="also import torch to check CUDA (takes seconds)")
    p.add_argument("--no-hello", action="store_true", help="save the provider without sending a test message")
    p.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    if args.remember_data_folder:
        from nexus_core.location import remember_data_dir
        from nexus_core.paths import ENV_HOME, DataPaths

        DataPaths.prepare(args.remember_data_folder)  # proves it can be written before it is remembered
        try:
            kept_in = remember_data_dir(args.remember_data_folder)
        except OSError as exc:
            raise NexusError(f"The data folder could not be remembered ({exc.strerror or exc}).",
                             path=getattr(exc, "filename", None),
                             hint="Make the user config folder writable, or set NEXUS_HOME instead.") from exc
        print(f"Data folder from now on: {args.remember_data_folder} (remembered in {kept_in})")
        if os.environ.get(ENV_HOME, "").strip():
            print(f"nexus: ${ENV_HOME} is set and wins over the remembered folder while it is", file=sys.stderr)
        elif args.data_dir is None:
            args.data_dir = args.remember_data_folder
    core = open_core_for_providers(args)
    try:
        return _setup(core, args)
    finally:
        core.close()


def _setup(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.firstrun import fit_advice, read_hardware
    from nexus_core.models.scan import model_roots, scan_models
    from nexus_core.providers.detect import detect_local_servers

    print(f"Data folder   {core.paths.root}")
    hardware = read_hardware(core.telemetry)
    if args.torch:
        from nexus_core.runtime import torch_runtime

        hardware.torch = torch_runtime()
    print(f"GPU           {hardware.gpu_line()}")
    if hardware.torch is not None:
        print(f"CUDA          {hardware.cuda_line()}")
    print(f"              {fit_advice(hardware.best_vram, hardware.ram_bytes)}")
    keyring_usable = core.credentials.mode == "keyring"
    print("API keys      " + ("kept in the system keyring" if keyring_usable else
                              "encrypted with a passphrase (no system keyring); set NEXUS_CREDENTIALS_PASSPHRASE"))
    roots = model_roots(core.settings)
    found_models = scan_models(roots).models
    print(f"Model folders {', '.join(str(r) for r in roots) or 'none'}: {len(found_models)} model(s)")
    servers = core.aio.run(detect_local_servers(), timeout=30)
    for server in servers:
        print(f"Local server  {server.preset.label} at {server.base_url}: "
              f"{', '.join(server.models) if server.models else server.note}")
    if not servers:
        print("Local server  none answered (Ollama 11434, LM Studio 1234, llama.cpp 8080, vLLM 8000)")
    ref = _choose(core, args, servers)
    if ref is None:
        from nexus_core.firstrun import next_steps

        print("\nNo chat provider is set up yet. Next steps:")
        for step in next_steps(servers, local_models=len(found_models), keyring_usable=keyring_usable,
                               for_cli=True):
            print(f"- {step}")
        return 1
    return _finish(core, ref, hello=not args.no_hello)


def _choose(core: Any, args: argparse.Namespace, servers: list[Any]) -> str | None:
    """The provider/model to make the default, saving its provider; None when there is nothing to use."""
    from nexus_core.firstrun import check_remote_provider, pick_chat_model, save_detected_server

    preset = PRESETS.get(args.provider) if args.provider else None
    if preset is not None and preset.needs_key:
        key = os.environ.get(args.api_key_env or preset.key_env, "")
        if not key:
            raise NexusError(f"{preset.label} needs an API key and ${args.api_key_env or preset.key_env} is empty.",
                             hint=f"Export the key, e.g. {preset.key_env}=… nexus setup --provider {preset.id}")
        name, ids = core.aio.run(check_remote_provider(core.providers, preset.id, key), timeout=60)
        model = args.model or pick_chat_model(ids)
        if model is None:
            raise NexusError(f"{preset.label} lists no models.", hint="Pass the model to use with --model.")
        return f"{name}/{model}"
    usable = [s for s in servers if s.models and (preset is None or s.preset.id == preset.id)]
    if preset is not None and not usable:
        raise NexusError(f"No {preset.label} server with a model answered on this machine.",
                         hint="Start it (and load a model), or choose another with --provider.")
    if not usable:
        return None
    server = usable[0]
    name = save_detected_server(core.providers, server)
    model = args.model or server.models[0]
    if args.model and args.model not in server.models:
        print(f"nexus: {server.preset.label} does not list {args.model!r}; using it anyway", file=sys.stderr)
    return f"{name}/{model}"


def _finish(core: Any, ref: str, *, hello: bool) -> int:
    from nexus_core.firstrun import make_default_chat_model, say_hello

    make_default_chat_model(core.routing, ref)
    print(f"\nChat model    {ref} (the default for chats; change it under Model assignment)")
    if hello:
        answer = core.aio.run(say_hello(core.router, ref), timeout=180)
        print(f"It answered   “{answer.text}” ({answer.seconds:.1f} s)")
    core.settings.first_run_done = True
    core.save_settings()
    print("Ready: try  nexus chat \"hello\"  or open Nexus Studio.")
    return 0
