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
