"""First run: what this computer offers (GPU, CUDA, keyring, model folders, local LLM servers) and the steps
that end with a chat provider that answers. The GUI wizard and ``nexus setup`` are two views over this."""

from nexus_core.firstrun.chat_setup import (
    HELLO_PROMPT,
    make_default_chat_model,
    next_steps,
    save_detected_server,
    save_remote_provider,
    say_hello,
)
from nexus_core.firstrun.hardware import GpuInfo, HardwareReport, fit_advice, read_hardware

__all__ = ["HELLO_PROMPT", "GpuInfo", "HardwareReport", "fit_advice", "make_default_chat_model", "next_steps",
           "read_hardware", "save_detected_server", "save_remote_provider", "say_hello"]
