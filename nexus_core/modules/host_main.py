"""The module host: runs inside a module's sandboxed worker and serves its adapter over JSON lines.

Not imported by the app: its text is the worker's main script. It may only use what the module sandbox
allows (standard library, pydantic, httpx, the ``nexus_sdk`` copy beside it).

    app ← {"type": "idle"}                               once the SDK and libraries are imported
    app → {"type": "load", "package", "module", "class_name", "config", "credentials"}
    app ← {"type": "ready", "operations": [...]}        or {"type": "error", "kind": "load", ...}
    app → {"type": "call", "id", "operation", "arguments"} / {"type": "health", "id"}
    app ← {"type": "result", "id", "ok": true, "value"}  or {"ok": false, "kind", "message"}

Calls run concurrently as tasks on one event loop; stdout carries only protocol lines (the module's own
prints go to stderr, the module's log).
"""

import asyncio
import dataclasses
import json
import os
import sys
import threading
import traceback

import httpx  # noqa: F401 - imported while the worker waits as a warm spare, so loading a module is quick
import nexus_sdk
from pydantic import BaseModel

nexus_sdk.adapter.ssl_context()  # warm: the CA bundle is read before any module arrives
PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr
WRITE_LOCK = threading.Lock()


def send(message):
    line = json.dumps(message, default=str)
    with WRITE_LOCK:
        PROTOCOL.write(line + "\n")
        PROTOCOL.flush()


def jsonable(value):
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def failure(request_id, exc):
    if isinstance(exc, nexus_sdk.ModuleError):
        kind = exc.kind
    elif isinstance(exc, ValueError) and str(exc).startswith("invalid arguments"):
        kind = "invalid_arguments"
    else:
        kind = "crash"
        traceback.print_exception(exc)
    send({"type": "result", "id": request_id, "ok": False, "kind": kind,
          "message": str(exc) or type(exc).__name__})


async def run_call(adapter, message):
    request_id = message.get("id")
    try:
        if message["type"] == "health":
            value = await adapter.health_check()
        else:
            value = await adapter.call(message["operation"], message.get("arguments") or {})
        send({"type": "result", "id": request_id, "ok": True, "value": jsonable(value)})
    except Exception as exc:
        failure(request_id, exc)


def load(message):
    sys.path_importer_cache.clear()  # the module's files were copied into the workspace after this process began
    module = __import__(f"{message['package']}.{message['module']}", fromlist=["_"])
    cls = nexus_sdk.ADAPTERS.get(message["class_name"])
    if cls is None:
        found = ", ".join(sorted(nexus_sdk.ADAPTERS)) or "none"
        raise LookupError(f"{module.__name__} registers no adapter class {message['class_name']!r} "
                          f"(registered: {found}); decorate it with @register_adapter")
    return cls(message.get("config") or {}, message.get("credentials") or {})


def main():
    send({"type": "idle"})  # warm and waiting: the app may hand this worker a module now
    first = sys.stdin.readline()
    if not first:
        return 0
    message = json.loads(first)
    try:
        adapter = load(message)
    except BaseException as exc:
        send({"type": "error", "kind": "load", "message": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc(limit=-6)})
        return 1
    send({"type": "ready", "operations": [spec.describe() for spec in adapter.operations().values()]})
    loop = asyncio.new_event_loop()
    tasks = set()

    def dispatch(line):
        if line is None:
            loop.stop()
            return
        request = json.loads(line)
        if request.get("type") == "stop":
            loop.stop()
            return
        task = loop.create_task(run_call(adapter, request))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def reader():
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(dispatch, line)
        loop.call_soon_threadsafe(dispatch, None)

    threading.Thread(target=reader, daemon=True).start()
    loop.run_forever()
    loop.run_until_complete(adapter.aclose())
    return 0


sys.exit(main())
