"""One object that opens everything the app runs on, for the GUI and the CLI alike.

Opening order: data folder (must be writable) → logging → settings (damage repaired and reported) →
store (backed up and migrated, or refused with a clear error) → job runner → telemetry sampler
(created, not started: the GUI starts it after the window is painted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.agent.loop import AgentLoop
from nexus_core.agents.service import AgentsService
from nexus_core.aio import AsyncLoopThread
from nexus_core.chat.conversations import ConversationStore
from nexus_core.chat.service import ChatService
from nexus_core.config import Settings, load_settings, save_settings
from nexus_core.distill.service import DistillService
from nexus_core.evolve.builder import ModuleBuilder
from nexus_core.evolve.coevolution import EvolutionService
from nexus_core.evolve.records import BuildRecords
from nexus_core.evolve.templates import TemplateStore
from nexus_core.jobs import JobRunner
from nexus_core.logs import setup_logging
from nexus_core.media.service import MediaService
from nexus_core.models.library import ModelLibrary
from nexus_core.models.manager import ModelManager
from nexus_core.models.scan import model_roots
from nexus_core.modules.registry import ModuleRegistry
from nexus_core.modules.service import ModuleService
from nexus_core.multimodal.service import MultimodalService
from nexus_core.observability.service import ObservabilityService
from nexus_core.paths import DataPaths
from nexus_core.pipeline.service import PipelineService
from nexus_core.providers.pool import ProviderPool
from nexus_core.providers.records import CallRecorder
from nexus_core.routing.router import Router
from nexus_core.routing.table import RoutingTableStore
from nexus_core.secrets.lazy import LazyCredentialStore
from nexus_core.server.completions import CompletionBackend
from nexus_core.server.service import LocalServer
from nexus_core.sli.service import SliService
from nexus_core.store import Store
from nexus_core.telemetry import TelemetrySampler
from nexus_core.tools.base import ToolContext
from nexus_core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)


@dataclass
class Core:
    paths: DataPaths
    settings: Settings
    store: Store
    runner: JobRunner
    telemetry: TelemetrySampler
    aio: AsyncLoopThread
    credentials: LazyCredentialStore  # a CredentialStore, opened on first use
    providers: ProviderPool
    routing: RoutingTableStore
    calls: CallRecorder
    router: Router
    chat: ChatService
    tools: ToolRegistry
    models: ModelManager
    library: ModelLibrary
    modules: ModuleService
    pipelines: PipelineService
    distill: DistillService
    builder: ModuleBuilder
    evolve: EvolutionService
    sli: SliService
    media: MediaService
    observability: ObservabilityService
    server: LocalServer  # the local OpenAI-compatible server (started by the GUI or `nexus serve`, never by open())
    agents: AgentsService
    multimodal: MultimodalService
    problems: list[str] = field(default_factory=list)  # things the user should be told once, at start

    @classmethod
    def open(cls, data_dir: Path | str | None = None, *, nvml: Any = None, keyring_backend: Any = None) -> Core:
        """Raises ``DataDirError`` or ``StoreError`` (with user-ready messages) when it cannot start."""
        paths = DataPaths.prepare(data_dir)
        loaded = load_settings(paths.settings_file)
        setup_logging(paths.log_file, loaded.settings.log_level)
        log.info("opening Nexus Studio data folder %s", paths.root)
        for problem in loaded.problems:
            log.warning("%s", problem)
        if loaded.problems:
            save_settings(paths.settings_file, loaded.settings)
        store = Store(paths.store_file, backups_dir=paths.backups_dir).open()
        settings = loaded.settings
        runner = JobRunner(store, max_thread_jobs=settings.max_thread_jobs,
                           max_process_jobs=settings.max_process_jobs)
        telemetry = TelemetrySampler(interval_s=settings.monitor_interval_s, window_s=settings.monitor_window_s,
                                     nvml=nvml)
        aio = AsyncLoopThread()
        credentials = LazyCredentialStore(paths.credentials_file, keyring_backend=keyring_backend)
        models = ModelManager(search_roots=lambda: model_roots(settings))
        library = ModelLibrary(settings, lambda: save_settings(paths.settings_file, settings), models)
        providers = ProviderPool(store, credentials, models=models)
        routing = RoutingTableStore(store)
        calls = CallRecorder(store)
        router = Router(providers, routing, calls)
        tools = ToolRegistry(loaders=[_builtin_tools])
        modules = ModuleService(ModuleRegistry(store, paths.modules_dir), credentials, tools)
        conversations = ConversationStore(store)
        media = MediaService(paths.root / "media", paths.root, runner, store, manager=models,
                             model_entries=library.entries)
        services = {"telemetry": telemetry, "providers": providers, "conversations": conversations,
                    "settings": settings, "media": media}

        def tool_context(conversation_id: str) -> ToolContext:
            workspace = settings.workspace_dir or paths.workspace_dir
            workspace.mkdir(parents=True, exist_ok=True)
            return ToolContext(workspace, conversation_id, services)

        agent = AgentLoop(router, tools)
        templates, build_records = TemplateStore(paths.root / "templates"), BuildRecords(store)
        builder = ModuleBuilder(router, aio, modules, templates, paths.root / "builds", build_records)
        evolve = EvolutionService(router, aio, modules,
                                  ModuleBuilder(router, aio, modules, templates, paths.root / "evolve" / "builds",
                                                build_records),
                                  templates, build_records, store, settings)
        distill = DistillService(paths.root / "runs", runner)
        pipelines = PipelineService(paths.root / "pipelines", {
            "router": router, "agent": agent, "tools": tools, "modules": modules, "distill": distill,
            "tool_context": tool_context("pipeline")})
        chat = ChatService(conversations, router, aio, system_prompt=settings.chat_system_prompt,
                           agent=agent, tool_context=tool_context, planner=pipelines.plan, builder=builder,
                           attachments_dir=paths.root / "attachments")
        # The credential store's passphrase-mode warning is not a start-up problem: the Models panel shows it
        # where keys are entered, and the passphrase dialog repeats it.
        problems = [*loaded.problems, *providers.problems, *routing.problems]
        _roll_up_old_calls(store, runner, settings.calls_retention_days)
        observability = ObservabilityService(store, calls, telemetry, modules, settings, runner, credentials)
        problems += observability.apply_settings()
        backend = CompletionBackend(router, providers, agent, tools, lambda: tool_context("server"),
                                    risky_tools_allowed=lambda: settings.server_agent_risky_tools)
        server = LocalServer(backend, aio, credentials, settings, paths.root / "attachments" / "server")
        agents = AgentsService(store, pipelines.registry, router, tools, aio, runner, paths.root / "workflows")
        return cls(paths, settings, store, runner, telemetry, aio, credentials, providers, routing, calls, router,
                   chat, tools, models, library, modules, pipelines, distill, builder, evolve,
                   SliService(paths.root / "sli", runner), media, observability, server, agents,
                   MultimodalService(runner), problems)

    def save_settings(self) -> None:
        save_settings(self.paths.settings_file, self.settings)

    def close(self, *, job_timeout: float = 10.0) -> None:
        self.server.stop()
        self.observability.close()
        self.telemetry.stop()
        self.evolve.stop_background()
        self.chat.stop_all()
        try:
            self.aio.run(self.providers.aclose(), timeout=5.0)
        except Exception:
            log.exception("closing providers failed")
        self.models.unload_all()
        self.modules.close()
        self.aio.stop()
        self.runner.shutdown(cancel=True, timeout=job_timeout)
        self.store.close()
        log.info("Nexus Studio core closed")


def _roll_up_old_calls(store: Store, runner: JobRunner, retention_days: float) -> None:
    """Records older than the retention age become daily totals, as a background job (only when there are any)."""
    from nexus_core.observability.retention import pending, roll_up

    if pending(store, retention_days):
        runner.submit(lambda ctx: f"{roll_up(store, retention_days)} records rolled up",
                      name="Roll up old call records", params={"retention_days": retention_days})


def _builtin_tools() -> list:
    from nexus_core.tools.builtin import builtin_tools

    return builtin_tools()
