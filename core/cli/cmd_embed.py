"""`zs3 embed`: show how class names become vectors (tokens, vocabulary hits, nearest words).

Lets a user check a class name before training on it: which words were looked up, whether each
is in the vocabulary, and which vocabulary words lie nearest — a misspelt or ambiguous name shows
up here instead of as a poor segmentation later.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "embed",
        help="show the tokens, vocabulary hits and nearest words of class names",
        description=(
            "Embed each WORD_OR_PHRASE the way a class name is embedded for training and print its "
            "tokens, whether each was found, and its nearest vocabulary words. A phrase may carry a "
            "description: 'quokka: small wallaby'."
        ),
    )
    parser.add_argument("phrases", nargs="+", metavar="WORD_OR_PHRASE", help="class names or phrases")
    parser.add_argument(
        "--embeddings", default="default", metavar="SPEC",
        help="default (GloVe 6B 50-d) | paper-voc | paper-context | minilm | PATH to a word2vec/GloVe/"
             "fastText file | A+B to concatenate (default: %(default)s)",
    )
    parser.add_argument("--neighbors", type=int, default=5, metavar="N",
                        help="how many nearest vocabulary words to show (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.embeddings import get_embedder
    from core.errors import UserError

    if args.neighbors < 0:
        raise UserError(f"--neighbors must be >= 0, got {args.neighbors}")
    emb = get_embedder(args.embeddings)
    print(f"embeddings: {emb.name} ({emb.dim}-d)")
    for text in args.phrases:
        explanation = emb.explain(text, strict=False)
        print(f"{text!r} -> {' '.join(explanation.tokens)}")
        for token, found in zip(explanation.tokens, explanation.found):
            print(f"  {token}: {'found' if found else 'NOT FOUND'}")
        for note in explanation.notes:
            print(f"  note: {note}")
        if explanation.vector is None:
            emb.embed(text)  # raises the UnknownWordError with its suggestions (exit 2)
            raise UserError(f"cannot embed {text!r}")  # pragma: no cover - embed always raises here
        if args.neighbors:
            if emb.has_vocabulary:
                near = emb.neighbors(explanation.vector, n=args.neighbors + len(explanation.keys))
                used = {k for k in explanation.keys if k is not None}
                near = [(w, s) for w, s in near if w not in used][: args.neighbors]
                print("  nearest: " + ", ".join(f"{w} ({s:.3f})" for w, s in near))
            else:
                print("  nearest: (this source has no vocabulary)")
    return 0
