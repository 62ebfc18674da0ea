# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install bench clean screenshot

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when the project's dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/zs3-gui resources/samples

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.run_all

screenshot: $(STAMP)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/zs3-gui resources/samples \
		--classes "cat,person" --screenshot docs/screenshot.png --quit

clean:
	rm -rf $(VENV) build *.egg-info
