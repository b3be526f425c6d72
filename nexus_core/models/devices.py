"""Where a model runs and in what precision, and how much memory that place has free.

These answers come before any weight is read so that a model that will not fit is refused with a number
a person can act on, instead of an out-of-memory crash halfway through a load.
"""

from __future__ import annotations

from typing import Any

from nexus_core.errors import NexusError

DTYPE_ALIASES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16",
                 "fp16": "float16", "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
               "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
# A loaded model needs a little more than its weights (buffers, allocator rounding, CUDA context).
OVERHEAD = 1.05


class ModelLoadError(NexusError):
    """A model could not be loaded; ``kind`` lets callers react (settings, memory, weights, folder, ...)."""

    def __init__(self, what: str, *, kind: str = "failed", path: Any = None, hint: str = "") -> None:
        self.kind = kind
        super().__init__(what, path=path, hint=hint)


def resolve_device(requested: str, *, cuda_available: bool, mps_available: bool = False) -> str:
    """``auto`` picks CUDA when there is one; an explicit GPU that is absent is a settings problem, said so."""
    device = (requested or "auto").strip().lower()
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise ModelLoadError(f"The model is set to run on {device!r}, but PyTorch sees no CUDA GPU.", kind="settings",
                             hint="Set the device to auto or cpu, or install the CUDA build of PyTorch and an "
                                  "NVIDIA driver.")
    if device == "mps" and not mps_available:
        raise ModelLoadError("The model is set to run on 'mps', but this machine has no Apple GPU available to "
                             "PyTorch.", kind="settings", hint="Set the device to auto or cpu.")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise ModelLoadError(f"Unknown device {requested!r}.", kind="settings", hint="Use auto, cpu, cuda or cuda:N.")
    return device


def resolve_dtype_name(requested: str, device: str, *, bf16_supported: bool) -> str:
    """``auto``: bfloat16 on a GPU that supports it (half the memory, same range), else float32."""
    name = (requested or "auto").strip().lower()
    if name == "auto":
        return "bfloat16" if device.startswith("cuda") and bf16_supported else "float32"
    if name not in DTYPE_ALIASES:
        raise ModelLoadError(f"Unknown dtype {requested!r}.", kind="settings",
                             hint="Use auto, float32, float16 or bfloat16.")
    return DTYPE_ALIASES[name]


def pick_device_and_dtype(device: str, dtype: str) -> tuple[str, str]:
    """Resolve ``auto`` against what this machine's PyTorch can see."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    resolved = resolve_device(device, cuda_available=torch.cuda.is_available(),
                              mps_available=bool(mps and mps.is_available()))
    bf16 = resolved.startswith("cuda") and torch.cuda.is_bf16_supported()
    return resolved, resolve_dtype_name(dtype, resolved, bf16_supported=bf16)


def estimate_bytes(parameters_by_dtype: dict[str, int], dtype: str) -> int:
    """Memory the weights will take once loaded in ``dtype`` (integer tensors keep their own width)."""
    total = 0
    for stored, count in parameters_by_dtype.items():
        width = DTYPE_BYTES[dtype] if stored.startswith(("float", "bfloat")) else DTYPE_BYTES.get(stored, 4)
        total += count * width
    return int(total * OVERHEAD)


def free_bytes(device: str) -> int:
    """Memory free on ``device`` right now: the GPU's free memory, or the host's available RAM."""
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        free, _total = torch.cuda.mem_get_info(index)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_fits(need: int, device: str, dtype: str, *, name: str, budget: int | None = None) -> None:
    """Refuse a load that will not fit, with the numbers and the ways out."""
    free = free_bytes(device) if budget is None else budget
    if need <= free:
        return
    where = "GPU memory" if device.startswith("cuda") else "RAM"
    smaller = " or a smaller dtype (bfloat16/float16 halve float32)" if dtype == "float32" else ""
    raise ModelLoadError(f"{name} needs about {gib(need)} of {where} in {dtype} on {device}; only {gib(free)} is "
                         "free.", kind="memory",
                         hint=f"Unload other models or close programs using {where}, pick a smaller model{smaller}, "
                              "or load it on another device.")
