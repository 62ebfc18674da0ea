"""A DeepLabv3+ checkpoint (core.checkpoint) as the session's model: its features, bank and GMMN are used."""
from __future__ import annotations

import numpy as np
import torch

from core.checkpoint import Checkpoint, save_checkpoint
from core.embeddings import get_embedder
from core.images import load_image
from core.models.deeplab import DeepLabConfig, build_deeplab
from core.models.gmmn import GMMN


def test_session_on_a_small_checkpoint(tmp_path, small_images):
    from core.session import Session, SessionConfig

    torch.manual_seed(0)
    cfg = DeepLabConfig(num_classes=3, backbone="resnet18")
    model = build_deeplab(cfg).eval()
    names = ["background", "cat", "dog"]
    emb = torch.from_numpy(get_embedder("default").embed_many(names))
    gmmn = GMMN(emb.shape[1], 256, output_relu=False)
    bank_f = torch.rand(300, 256)
    bank_l = torch.arange(300) % 2  # background and cat are the checkpoint's seen classes
    path = save_checkpoint(
        tmp_path / "small.pth",
        Checkpoint(model_kind="deeplabv3plus", model_config=cfg.to_dict(), model_state=model.state_dict(),
                   class_names=names, seen_class_names=["background", "cat"],
                   embedding_spec={"name": "glove-6b-50d"}, class_embeddings=emb,
                   gmmn_kind="gmmn", gmmn_config=gmmn.config(), gmmn_state=gmmn.state_dict(),
                   bank_features=bank_f, bank_labels=bank_l),
    )
    s = Session(model=str(path), device="cpu", config=SessionConfig(input_side=128, classifier_iter=10, gmmn_steps=20))
    assert s.model_name == str(path)
    s.set_classes(["cat", "person"])
    report = s.fit()
    assert report.prior_rows > 0  # the bank's cat and background rows
    img = small_images / "cat_chelsea.jpg"
    pred = s.predict(img)
    assert pred.labels.shape == load_image(img).shape[:2]
    assert pred.labels.max() <= 2 and np.isfinite(pred.confidence).all()
    assert s.features(img).features.shape[0] == 256
