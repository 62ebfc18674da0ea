"""The GMMN a session generates unseen-class features with (ZS3Net's generator), and its two caches.

Why its own room: which GMMN applies (the shipped one for these word vectors and this backbone, a
checkpoint's own, or one fine-tuned on the user's pixels) and when it may train is one policy —
never on a class-name change, once per change of the labels — kept apart from the session's
bookkeeping. It reads the session's current backbone, config and word vectors.
"""
from __future__ import annotations


class SessionGMMN:
    def __init__(self, session):
        self._session = session
        self._trained: dict = {}  # {(model, embedder, gmmn file, labels version): fine-tuned GMMN}, latest only
        self._shipped: tuple = (None, None)  # ((file, embedder), private copy of the shipped GMMN)

    def base(self):
        """The GMMN the model ships with (default: ``gmmn_file``; checkpoint: its own), or None."""
        session = self._session
        dim = session._class_vectors.shape[1]
        own = getattr(session.backbone, "gmmn", None)
        if own is not None and getattr(own, "embed_dim", None) == dim:
            return own
        if not getattr(session.backbone, "has_imagenet", False) or not session.config.gmmn_file:
            return None
        from core.session.backbones import SHIPPED, load_default_gmmn, shipped_gmmn_file

        path = session.config.gmmn_file
        if path == SHIPPED:
            path = shipped_gmmn_file(session.backbone.name)
            if path is None:
                return None
        key = (str(path), session.embedder.name)
        if self._shipped[0] != key:
            # A private copy: sampling toggles the module's dropout flag, which must not race with
            # another session sampling the process-wide shared instance.
            import copy

            gmmn = load_default_gmmn(path, session.embedder.name, session.backbone.name)
            self._shipped = (key, copy.deepcopy(gmmn) if gmmn is not None and gmmn.embed_dim == dim else None)
        return self._shipped[1]

    def for_labels(self, labels_version, seen_ids, x_real, y_real, class_vectors, needed, progress, cancel):
        """(GMMN or None, trained?) for generating features of classes without real pixels.

        Never trained on a class-name change: the shipped GMMN is used as it is, or fine-tuned
        (warm start, ``gmmn_finetune_steps``) on the user's pixels once per change of the labels;
        the result is reused until the labels change again, whatever the class names become.
        Without a shipped GMMN (other word vectors) one is trained from scratch on the user's pixels,
        only when ``needed`` (a class needs generated features), then reused the same way.
        """
        session = self._session
        import copy

        from core.zs3.generation import GMMNTrainConfig, train_gmmn

        base = self.base()
        if not seen_ids:
            return base, False
        key = (session.model_name, session.embedder.name, session.config.gmmn_file, labels_version)
        cached = self._trained.get(key)
        if cached is not None:
            return cached, False
        if base is not None:
            if session.config.gmmn_finetune_steps <= 0:
                return base, False
            cfg = GMMNTrainConfig(steps=session.config.gmmn_finetune_steps, per_class=session.config.gmmn_per_class,
                                  seed=session.config.seed)
            start = copy.deepcopy(base)
        elif len(seen_ids) >= 2 and needed:  # no shipped GMMN for these word vectors: train one
            cfg = GMMNTrainConfig(steps=session.config.gmmn_steps, per_class=session.config.gmmn_per_class,
                                  seed=session.config.seed)
            start = None
        else:
            return None, False
        gmmn = train_gmmn(x_real.to(session._device), y_real.to(session._device), class_vectors.to(session._device),
                          cfg, gmmn=start, progress=progress, cancel=cancel)
        self._trained = {key: gmmn}  # keep only the latest: memory stays flat
        return gmmn, True

    def generate(self, gmmn, class_vectors, ids):
        """GMMN features for ``ids``, dropout on or off as ``config.gmmn_dropout`` says."""
        session = self._session
        from core.zs3.generation import generate_features

        vecs = class_vectors.to(next(gmmn.parameters()).device)
        x, y = generate_features(gmmn, vecs, ids, session.config.generated_per_class, seed=session.config.seed,
                                 with_dropout=bool(session.config.gmmn_dropout))
        return x.cpu(), y.cpu()
