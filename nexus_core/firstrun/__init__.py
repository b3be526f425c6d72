"""First run: what this computer offers (GPU, CUDA, keyring, model folders, local LLM servers) and the steps
that end with a chat provider that answers. The GUI wizard and ``nexus setup`` are two views over this."""

from nexus_core.firstrun.chat_setup import (
    HELLO_PROMPT,
    check_remote_provider,
    make_default_chat_model,
    next_steps,
    pick_chat_model,
    save_detected_server,
    say_hello,
)
from nexus_core.firstrun.hardware import GpuInfo, HardwareReport, fit_advice, read_hardware

__all__ = [
    "HELLO_PROMPT",
    "GpuInfo",
    "HardwareReport",
    "check_remote_provider",
    "fit_advice",
    "make_default_chat_model",
    "next_steps",
    "pick_chat_model",
    "read_hardware",
    "save_detected_server",
    "say_hello",
]
