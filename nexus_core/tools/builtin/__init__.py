"""The built-in tools every installation has; ``builtin_tools()`` is what the registry loads at start-up.

Services the tools look up in ``ToolContext.services``: "providers" (ProviderPool: list_models, switch_model),
"conversations" (ConversationStore: switch_model, and list_models for the current override), "telemetry"
(TelemetrySampler: system_info), "media" (MediaService: generate_image) and, optionally, "weather_urls"
({"geocoding": url, "forecast": url}).
The file and shell tools use ``ctx.workspace``.
"""

from __future__ import annotations

from nexus_core.tools.base import Tool
from nexus_core.tools.builtin import (  # the modules, so ``builtin.weather`` stays the module (patchable)
    calculator,
    clock,
    code_interpreter,
    files,
    image,
    models,
    shell,
    system_info,
    weather,
    web_fetch,
)

__all__ = ["builtin_tools"]


def builtin_tools() -> list[Tool]:
    """Every built-in tool, in the order they are shown to the user."""
    return [calculator.calculator, clock.current_time, clock.convert_time, weather.weather, web_fetch.web_fetch,
            files.list_files, files.read_file, files.search_files, files.write_file, shell.shell,
            code_interpreter.run_python, image.generate_image,
            models.list_models, models.switch_model, system_info.system_info]
