"""`zs3 embed` through the real entry point."""
from __future__ import annotations

from core.cli.main import main


def test_embed_prints_tokens_found_and_neighbours(capsys):
    assert main(["embed", "cat", "pottedplant", "quokka: small wallaby", "--neighbors", "3"]) == 0
    out = capsys.readouterr().out
    assert "glove-6b-50d (50-d)" in out
    assert "'pottedplant' -> potted plant" in out
    assert "  potted: found" in out and "  plant: found" in out
    assert "'quokka: small wallaby' -> small wallaby" in out
    cat_block = out.split("'cat' -> cat", 1)[1].split("\n'", 1)[0]
    nearest = cat_block.split("nearest: ", 1)[1].splitlines()[0]
    assert nearest.count("(") == 3 and "dog" in nearest


def test_embed_with_paper_vectors(capsys):
    assert main(["embed", "tv/monitor", "airplane", "--embeddings", "paper-voc", "--neighbors", "0"]) == 0
    out = capsys.readouterr().out
    assert "'tv/monitor' -> tvmonitor" in out and "'airplane' -> aeroplane" in out
    assert "nearest" not in out


def test_embed_with_a_file(vector_files, capsys):
    assert main(["embed", "paris", "--embeddings", str(vector_files["word2vec-bin"]), "--neighbors", "1"]) == 0
    assert "  paris: found" in capsys.readouterr().out


def test_unknown_word_is_a_one_line_error_exit_2(capsys):
    assert main(["embed", "cat", "giraffee"]) == 2
    captured = capsys.readouterr()
    assert "  giraffee: NOT FOUND" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("zs3 embed: error: unknown word 'giraffee'") and "'giraffe'" in lines[0]


def test_bad_source_and_bad_count_exit_2(capsys):
    assert main(["embed", "cat", "--embeddings", "no-such-source"]) == 2
    assert "unknown embedding source" in capsys.readouterr().err
    assert main(["embed", "cat", "--neighbors", "-1"]) == 2
