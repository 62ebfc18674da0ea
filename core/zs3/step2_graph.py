"""ZS3Net-GC (graph context): scenes of seen-only images, their class graphs, and unseen classes put into them.

Step 2 of the variant trains a GMMN whose layers are graph convolutions over each seen-only scene's
class-adjacency graph; step 3 then generates every unseen class inside context graphs made from those
seen-only graphs (:func:`insert_unseen`), never from a label map holding the unseen class.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from core.errors import UserError
from core.zs3.common import Progress, _model_device
from core.zs3.sampling import CappedSample
from core.zs3.step2_features import _labelled_rows, _seen_feature_batches, batch_keys

log = logging.getLogger(__name__)

@dataclass
class GraphSceneConfig:
    """Step 2 of the graph-context variant (ZS3Net-GC): scenes of seen-only training images.

    ``max_scenes`` images (a seeded uniform sample; None = all) keep their class-adjacency graph and
    at most ``max_per_class_per_scene`` feature rows per class (bounded memory); the same pass also
    samples at most ``max_per_class`` real features per class for step 3 (like :func:`collect_features`).
    """

    max_scenes: int | None = 2000
    max_per_class_per_scene: int = 64
    max_per_class: int = 20000
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


#: a context graph: the class ids of its nodes and their (K, K) 0/1 adjacency
ContextGraph = tuple[list[int], Tensor]


@dataclass
class GraphGenerator:
    """What :func:`train_graph_generator` returns.

    ``gmmn``: the ``GraphContextGMMN``; ``contexts``: the distinct class-adjacency graphs of the
    seen-only training scenes (seen ids only), from which step 3 builds unseen contexts;
    ``features`` / ``labels``: real seen features sampled in the same pass (step 3's real rows).
    """

    gmmn: nn.Module
    contexts: list
    features: Tensor
    labels: Tensor


def _subset_indices(n: int, k: int | None, seed: int) -> set[int]:
    if k is None or k >= n:
        return set(range(n))
    return set(torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))[: int(k)].tolist())


@torch.no_grad()
def collect_scenes(model: nn.Module, dataset_seen_only, seen_ids: Sequence[int], num_classes: int,
                   config: GraphSceneConfig | None = None, device: torch.device | None = None,
                   progress: Progress | None = None, cancel: threading.Event | None = None):
    """Step 2a of ZS3Net-GC: per-image scenes + a real seen-feature sample, in one pass.

    Label maps go through the seen look-up table (anything not seen → 255) before use and are
    nearest-downsampled to the feature grid, as in :func:`collect_features`; ``dataset_seen_only``
    should be the ``SeenOnly`` view. Returns ``(scenes: list[GraphScene] on CPU, features, labels)``.
    """
    from core.zs3.generation import prepare_graph_scene

    config = config or GraphSceneConfig()
    bank = CappedSample(config.max_per_class, config.seed)
    chosen = _subset_indices(len(dataset_seen_only), config.max_scenes, config.seed)
    gen = torch.Generator().manual_seed(int(config.seed) + 1)
    scenes = []
    total, index, feat_dim = len(dataset_seen_only), 0, 0
    for feats, small, indices in _seen_feature_batches(model, dataset_seen_only, seen_ids, config.batch_size,
                                                       config.workers, device, cancel, "scene collection"):
        feat_dim = feats.shape[1]
        bank.add(*_labelled_rows(feats, small, batch_keys(config.seed, indices, feats.shape[-2:])))
        for j, image_index in enumerate(indices):  # batches of one size come out of order
            if image_index in chosen:
                scene = prepare_graph_scene(feats[j].cpu(), small[j], num_classes,
                                            config.max_per_class_per_scene, generator=gen)
                if scene is not None:
                    scenes.append(scene)
        index += feats.shape[0]
        if progress is not None:
            progress(index / max(1, total), f"scenes of {index}/{total} images")
    real_feats, real_labels = bank.result(feat_dim)
    if not scenes:
        raise UserError("no labelled pixel of a seen class found: cannot collect scenes")
    log.info("collected %d scenes, %d seen features", len(scenes), real_feats.shape[0])
    return scenes, real_feats, real_labels


def context_graphs(scenes, max_graphs: int | None = 2000) -> list:
    """The distinct class-adjacency graphs of ``scenes`` as ``(class ids, adjacency)`` (first seen first)."""
    seen_keys, out = set(), []
    for scene in scenes:
        ids = [int(i) for i in scene.present.tolist()]
        adj = scene.adjacency.float().cpu()
        key = (tuple(ids), tuple(adj.flatten().int().tolist()))
        if key in seen_keys:
            continue
        seen_keys.add(key)
        out.append((ids, adj))
        if max_graphs is not None and len(out) >= max_graphs:
            break
    return out


def contexts_to_list(contexts) -> list:
    """Plain-container form for a checkpoint's meta: ``[[ids], [[i, j], …]]`` (edges as class-id pairs)."""
    out = []
    for ids, adj in contexts:
        a = torch.as_tensor(adj)
        edges = [[ids[i], ids[j]] for i, j in torch.nonzero(torch.triu(a, 1)).tolist()]
        out.append([list(map(int, ids)), edges])
    return out


def contexts_from_list(items) -> list:
    """Inverse of :func:`contexts_to_list`."""
    out = []
    for ids, edges in items:
        ids = [int(i) for i in ids]
        pos = {c: k for k, c in enumerate(ids)}
        adj = torch.zeros(len(ids), len(ids))
        for a, b in edges:
            adj[pos[int(a)], pos[int(b)]] = adj[pos[int(b)], pos[int(a)]] = 1.0
        out.append((ids, adj))
    return out


def train_graph_generator(model: nn.Module, dataset_seen_only, seen_ids: Sequence[int], class_embeddings: Tensor,
                          config=None, scene_config: GraphSceneConfig | None = None,
                          device: torch.device | None = None, progress: Progress | None = None,
                          cancel: threading.Event | None = None) -> GraphGenerator:
    """Step 2 of ZS3Net-GC: scenes of seen-only training images, then the graph-context GMMN on them.

    Every scene is the features of one image with its seen-only label map nearest-downsampled to the
    feature grid (unseen ids → 255 before use, so an unseen id is never read); the GMMN is trained on
    the class-adjacency graph of each scene (``core.zs3.generation.train_graph_gmmn``).
    """
    from core.zs3.generation import GMMNTrainConfig, train_graph_gmmn

    config = config or GMMNTrainConfig()
    device = device or _model_device(model)
    emb = torch.as_tensor(class_embeddings, dtype=torch.float32)

    def sub(lo, hi):
        return None if progress is None else (lambda f, m: progress(lo + (hi - lo) * f, m))

    scenes, real_feats, real_labels = collect_scenes(model, dataset_seen_only, seen_ids, emb.shape[0], scene_config,
                                                     device=device, progress=sub(0.0, 0.3), cancel=cancel)
    on_device = [type(s)(s.features.to(device), s.present.to(device), s.counts.to(device), s.adjacency)
                 for s in scenes]
    gmmn = train_graph_gmmn(on_device, emb.to(device), config, progress=sub(0.3, 1.0), cancel=cancel)
    return GraphGenerator(gmmn, context_graphs(scenes), real_feats, real_labels)


def insert_unseen(context: tuple, unseen_id: int, generator: torch.Generator) -> tuple[list[int], Tensor, int]:
    """A context graph for ``unseen_id`` built from a seen-only scene graph, without any unseen label.

    Two ways, each with probability ½: *replace* a random non-background node by the unseen class
    (it inherits that region's neighbours: an unseen object where a seen one was), or *add* the
    unseen class as a new node touching 1–2 random present classes (an extra object). A graph with
    no object node (background alone) always gets the *add*. Returns ``(ids, adjacency, position of
    the unseen node)``.
    """
    ids, adj = list(context[0]), torch.as_tensor(context[1]).float()
    objects = [k for k, c in enumerate(ids) if c != 0]
    if objects and float(torch.rand(1, generator=generator)) < 0.5:
        k = objects[int(torch.randint(len(objects), (1,), generator=generator))]
        ids[k] = int(unseen_id)
        return ids, adj.clone(), k
    n = len(ids)
    m = min(n, 1 + int(torch.randint(2, (1,), generator=generator)))
    touch = torch.randperm(n, generator=generator)[:m]
    new = torch.zeros(n + 1, n + 1)
    new[:n, :n] = adj
    new[n, touch] = 1.0
    new[touch, n] = 1.0
    return ids + [int(unseen_id)], new, n


def generate_in_context(gmmn, class_embeddings: Tensor, unseen_ids: Sequence[int], contexts, n_per_class: int,
                        seed: int = 0, with_dropout: bool = True, n_contexts: int = 64) -> tuple[Tensor, Tensor]:
    """Graph-context features of each unseen class, each in ``n_contexts`` random contexts.

    For every unseen class ``n_contexts`` seen-only scene graphs are drawn from ``contexts`` and the
    class is put into each (:func:`insert_unseen`); the network then generates the unseen node's
    features in all of them in one batched pass. No unseen label is read: the graphs come from
    seen-only label maps (a context holding an unseen id is refused). Returns ``(features (U*n, F),
    labels (U*n,))`` grouped by class.
    """
    from core.zs3.generation import generate_in_graphs

    unseen = [int(u) for u in unseen_ids]
    if not contexts:
        raise ValueError("the graph-context generator needs context graphs of seen-only scenes")
    for ids, _ in contexts:
        if set(map(int, ids)) & set(unseen):
            raise ValueError("a context graph holds an unseen class: contexts must come from seen-only label maps")
    n = int(n_per_class)
    m = max(1, min(int(n_contexts), n))
    per = int(math.ceil(n / m))
    gen = torch.Generator().manual_seed(int(seed))
    feats, labels = [], []
    for i, u in enumerate(unseen):
        picks = torch.randint(len(contexts), (m,), generator=gen).tolist()
        graphs, nodes = [], []
        for p in picks:
            ids, adj, pos = insert_unseen(contexts[p], u, gen)
            graphs.append((ids, adj))
            nodes.append(pos)
        out = generate_in_graphs(gmmn, class_embeddings, graphs, nodes, per, seed=int(seed) + 1000 * i,
                                 with_dropout=with_dropout)
        feats.append(out.reshape(-1, out.shape[-1])[:n])
        labels.append(torch.full((n,), u, dtype=torch.long, device=out.device))
    return torch.cat(feats), torch.cat(labels)
