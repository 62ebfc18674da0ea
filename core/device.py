"""Choosing the compute device: CPU is a first-class path, CUDA is used only when asked for or present."""
from __future__ import annotations

import contextlib
import logging

from core.errors import UserError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto"):
    """Map the user's choice to a ``torch.device``; asking for CUDA without a GPU is a user error."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available: use --device cpu or auto")
        return torch.device(name)
    raise UserError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")


def inference_context(device):
    """Prediction context: inference mode everywhere, bf16 autocast on CUDA."""
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if getattr(device, "type", str(device)) == "cuda":
        stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
    return stack


#: ``ZS3_CPU_BF16=0`` keeps the DINOv2 forward in float32 on every CPU (``1``: bf16 even where the CPU
#: would emulate it); unset = bf16 where the CPU computes it natively (``cpu_bf16``).
CPU_BF16_ENV = "ZS3_CPU_BF16"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX-512 BF16 or AMX): there oneDNN's bf16
    matmuls run about twice as fast as float32; elsewhere bf16 is emulated and slower."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, name)()) for name in probes if hasattr(torch.cpu, name))
    except Exception:  # noqa: BLE001 - a private probe that changed: float32, the safe choice
        return False


def cpu_bf16() -> bool:
    """Whether the backbone's transformer runs in bf16 on the CPU (``CPU_BF16_ENV``, else the hardware)."""
    import os

    choice = os.environ.get(CPU_BF16_ENV, "").strip()
    if choice in ("0", "1"):
        return choice == "1"
    return cpu_has_native_bf16()


def backbone_autocast(device):
    """bf16 autocast for a transformer forward on the CPU where ``cpu_bf16`` says so (the CUDA path gets
    its own in ``inference_context``). Measured on DINOv2 ViT-S/14 at 518 px, 2 Zen 4 cores: 0.65 →
    0.38 s a photo, patch features at cosine ≥ 0.9998 to float32 (docs/benchmarks.md). Not for the
    ImageNet head: its convolutions in bf16 moved the zero-label prior (tuning typed 0.516 → 0.479)."""
    import torch

    if getattr(device, "type", str(device)) == "cpu" and cpu_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model, device):
    """Move a model to ``device``; channels-last on CUDA where convolutions dominate."""
    import torch

    model = model.to(device)
    if getattr(device, "type", str(device)) == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with at most ``n`` torch intra-op threads (0: unchanged); yields the count before.

    Process-wide and restored after: small CPU matrices (a classifier fit, a GMMN step) run faster
    on one thread than on two busy cores.
    """
    import torch

    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield before
        return
    torch.set_num_threads(n)
    try:
        yield before
    finally:
        torch.set_num_threads(before)
