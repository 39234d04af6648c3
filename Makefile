# Both targets set up everything they need on a fresh machine, then run.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# Debian packages that ship data and tools used by the bundled data sets; installed when missing.
SYSTEM_PACKAGES := dataset-fashion-mnist espeak-ng flite fluidsynth fluid-soundfont-gm \
                   openclipart-svg openclipart-png

# KiCad's 3D part models (about 380 MB): only `make shapes3d` installs them, never setup.
SHAPES3D_PACKAGE := kicad-packages3d

.PHONY: demo test lint setup clean shapes3d

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and pinned: the CPU build on disk; anything else pulls a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	# The core install is numpy, scipy, safetensors and the CLI; everything else is an extra.
	$(PIP) install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/csa demo

# The opt-in 3D shapes <-> text section; --no-install-recommends: the models alone, not KiCad.
shapes3d: $(STAMP)
	@dpkg -s $(SHAPES3D_PACKAGE) >/dev/null 2>&1 || { \
	  echo "installing Debian package $(SHAPES3D_PACKAGE) (about 380 MB)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq --no-install-recommends $(SHAPES3D_PACKAGE); }
	$(PIP) install --quiet -e '.[shapes3d]'
	$(VENV)/bin/csa demo --section shapes3d-text --out results/shapes3d

# Two pytest workers on two cores: one BLAS thread each. More threads than cores make
# OpenBLAS's spinning pools stall each other (a 384 x 384 eigensolve: 0.06 s -> 3 s).
test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
