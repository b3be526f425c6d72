"""``nexus chat``: one turn from the command line, streamed to stdout; routing notes go to stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from nexus_core.chat.service import TurnEvent
from nexus_core.errors import NexusError
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.units import one_line

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chat", help="ask a model; the answer streams to stdout",
                       description="Send PROMPT and stream the answer. Without options the router picks the model "
                                   "from the model assignment table; the turn is saved as a conversation.")
    p.add_argument("prompt", help="what to ask ('-' reads it from stdin)")
    add_provider_options(p)
    for kind, what in (("image", "a picture"), ("audio", "a sound file"), ("video", "a video")):
        p.add_argument(f"--{kind}", metavar="FILE", action="append", type=Path, default=[],
                       help=f"attach {what} (repeatable): sent in the provider's own format, or fused for a local "
                            "model with a fusion bundle")
    p.add_argument("--conversation", metavar="ID", help="continue this conversation (id or unique prefix)")
    p.add_argument("--no-tools", action="store_true", help="answer without offering the agent's tools")
    p.add_argument("--yes", action="store_true", help="allow risky tools (shell, file writes, code) without asking; "
                                                      "headless runs deny them otherwise")
    p.add_argument("--json", action="store_true", help="print one JSON object with the answer and its facts")
    p.set_defaults(func=cmd_chat)


def add_provider_options(p: argparse.ArgumentParser) -> None:
    """--base-url, --api-key-env, --provider, --model: the model to use instead of the routing table's."""
    p.add_argument("--base-url", help="talk to this OpenAI-compatible server directly (not saved), "
                                      "e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--api-key-env", metavar="VAR", help="read the API key from environment variable VAR")
    p.add_argument("--provider", metavar="NAME", help="use this saved provider (see `nexus providers list`)")
    p.add_argument("--model", metavar="M", help="model id (with --provider/--base-url) or provider/model")


def _key_from_env(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise NexusError(f"Environment variable {var} is not set (or empty), so there is no API key to use.",
                         hint=f"export {var}=... first, or drop --api-key-env.")
    return value


def resolve_model_override(core: Any, args: argparse.Namespace) -> str | None:
    """Turn --base-url/--provider/--model/--api-key-env into a "provider/model" override (or None to route)."""
    from nexus_core.providers.openai_compat import OpenAICompatProvider
    from nexus_core.providers.pool import build_provider

    key = _key_from_env(args.api_key_env)
    if args.base_url:
        provider = OpenAICompatProvider("cli", args.base_url, api_key=key,
                                        key_hint=f"${args.api_key_env}" if args.api_key_env else "the API key")
        core.providers.register_temporary(provider)
        return f"cli/{args.model or _first_model(core, 'cli')}"
    if args.provider:
        config = core.providers.config(args.provider)
        if config is None:
            names = ", ".join(c.name for c in core.providers.configs()) or "none yet"
            raise NexusError(f"There is no saved provider named {args.provider!r} (saved: {names}).",
                             hint="Add one with `nexus providers add`, or use --base-url.")
        if key:
            core.providers.register_temporary(build_provider(config, key, f"${args.api_key_env}",
                                                                     core.models))
        return f"{args.provider}/{args.model or _first_model(core, args.provider)}"
    if args.model:
        provider, sep, _ = args.model.partition("/")
        if not sep or core.providers.config(provider) is None:
            raise NexusError(f"--model {args.model!r} needs a provider.",
                             hint="Write provider/model (e.g. ollama/llama3.2:3b), or add --provider or --base-url.")
        return args.model
    if key:
        raise NexusError("--api-key-env needs --base-url or --provider to say whose key it is.")
    return None


def _first_model(core: Any, provider: str) -> str:
    config = core.providers.config(provider)
    if config is not None and config.models:
        return config.models[0]
    models = core.aio.run(core.providers.get(provider).list_models(), timeout=30)
    if not models:
        raise ProviderError(FailureKind.NOT_FOUND, f"Provider {provider!r} lists no models.", provider=provider,
                            hint="Load a model in the server, or pass --model.")
    print(f"nexus: using model {models[0].id} (the first of {len(models)}; choose with --model)", file=sys.stderr)
    return models[0].id


def cmd_chat(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    core = open_core_for_providers(args)
    try:
        return _run_chat(core, args, prompt)
    finally:
        core.close()


def _run_chat(core: Any, args: argparse.Namespace, prompt: str) -> int:
    override = resolve_model_override(core, args)
    conversation_id = core.chat.conversations.find(args.conversation).id if args.conversation else None
    ended = threading.Event()
    out = sys.stdout

    def on_event(event: TurnEvent) -> None:
        if event.kind == "delta" and not args.json:
            out.write(event.text)
            out.flush()
        elif event.kind == "routed" and event.decision is not None:
            d = event.decision
            print(f"nexus: {d.task_type.value}, {d.tier} tier → {d.candidates[0]} ({d.reason})", file=sys.stderr)
        elif event.kind == "notice":
            print(f"nexus: {event.text}", file=sys.stderr)
        elif event.kind == "tool_started" and event.tool_call is not None:
            print(f"nexus: tool {event.tool_call.name}({one_line(event.tool_call.arguments)})", file=sys.stderr)
        elif event.kind == "tool_finished" and event.tool_result is not None:
            done = event.tool_result
            state = "ok" if done.ok else f"failed ({done.error_kind})"
            print(f"nexus: tool {done.call.name} {state} in {done.duration_ms:.0f} ms: {one_line(done.content)}",
                  file=sys.stderr)
        elif event.kind == "finished":
            ended.set()

    disconnect = core.chat.events.connect(on_event)
    try:
        core.chat.approver = _headless_approver(args.yes)
        attachments = [*args.image, *args.audio, *args.video]
        turn = core.chat.send(conversation_id, prompt, model_override=override, use_tools=not args.no_tools,
                              attachments=attachments or None)
        try:
            while not ended.wait(0.2):
                pass
        except KeyboardInterrupt:
            turn.cancel()
            message = turn.wait(10)
            print("\nnexus: stopped; the partial answer is saved.", file=sys.stderr)
            return EXIT_INTERRUPTED
        message = turn.wait(10)
    finally:
        disconnect()
    meta = message.meta
    if args.json:
        print(json.dumps({
            "conversation_id": message.conversation_id, "message_id": message.id, "status": message.status,
            "text": message.content, "error": message.error or None, "model": meta.get("model_ref"),
            "task_type": meta.get("task_type"), "tier": meta.get("tier"), "tokens_in": meta.get("tokens_in"),
            "tokens_out": meta.get("tokens_out"), "latency_ms": meta.get("latency_ms"),
            "ttft_ms": meta.get("ttft_ms"), "cost_usd": meta.get("cost_usd"),
            "tool_calls": [c.to_dict() for c in message.tool_calls]}, indent=2))
    elif message.content and not message.content.endswith("\n"):
        out.write("\n")
    if message.status != "complete":
        label = "the answer is incomplete" if message.status == "partial" else "no answer"
        print(f"nexus: {label}: {message.error}", file=sys.stderr)
    tokens = f", {meta.get('tokens_in')}→{meta.get('tokens_out')} tokens" if meta.get("tokens_out") is not None else ""
    print(f"nexus: conversation {message.conversation_id[:12]} · {meta.get('model_ref', '?')} · "
          f"{meta.get('latency_ms', 0):.0f} ms{tokens}", file=sys.stderr)
    return 0 if message.status == "complete" else EXIT_FAILED


def _headless_approver(allow: bool) -> Any:
    async def approve(request: Any) -> str:
        verdict = "allowed (--yes)" if allow else "denied: pass --yes to allow risky tools"
        print(f"nexus: {request.tool} is a risky tool; {verdict}", file=sys.stderr)
        return "once" if allow else "deny"

    return approve
