# Two commands do all set-up on a fresh Debian machine (Python 3.11, no GPU):
#   make run    create .venv, install vlpipe, build the bundled Jupyter samples on embedded Ray
#   make test   also install the test/trainer extras and the Debian packages, run the test suite
# Both are idempotent: stamps under .venv/ skip work already done.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# -qq: pip and setuptools notices are not the user's business; errors still show.
PIP := $(PY) -m pip install -qq --disable-pip-version-check
IMG2DATASET := bench/out/img2dataset-venv/bin/img2dataset
# Chromium and TeX for the renderers, Noto CJK for Chinese glyphs, biber/bibtex for bibliographies,
# pandoc for the arXiv source's LaTeX → markdown, tesseract (EN + ZH) for the ebook tests' OCR check,
# URW (Times, Palatino, Helvetica, Courier …) and AR PL Song/Kai fonts for the page templates.
DEBIAN_PACKAGES := chromium fonts-noto-cjk fonts-dejavu-core fontconfig pandoc \
	texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-xetex \
	texlive-lang-chinese texlive-fonts-recommended lmodern biber texlive-bibtex-extra \
	texlive-science texlive-publishers texlive-pictures texlive-plain-generic \
	texlive-lang-european texlive-fonts-extra texlive-fonts-extra-links cm-super ghostscript \
	tesseract-ocr tesseract-ocr-chi-sim fasttext \
	fonts-urw-base35 fonts-arphic-gbsn00lp fonts-arphic-gkai00mp

.PHONY: run test lint bench bench-data system-packages assets

run: $(VENV)/.core
	$(VENV)/bin/vlpipe build --source jupyter --executor ray

test: system-packages $(VENV)/.dev assets
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: system-packages $(VENV)/.bench assets $(IMG2DATASET) bench-data
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

$(VENV)/.core: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

# torch is pinned to the CPU wheel here; an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.dev: $(VENV)/.core
	$(PIP) torch==2.13.0
	$(PIP) -e '.[train,dev]'
	touch $@

# The benchmarks' baselines (datatrove …), kept out of the test environment.
$(VENV)/.bench: $(VENV)/.dev
	$(PIP) -e '.[train,dev,bench]'
	touch $@

# The regression sets of real documents (notebooks, papers, books) the benchmarks measure on, at
# their manifests' pinned commits: cloned from GitHub, or read from bare mirrors in MIRROR.
MIRROR ?=
FETCH_FROM := $(if $(MIRROR),--mirror $(MIRROR))
bench-data: bench/out/jupyter-real bench/out/arxiv/papers bench/out/ebooks/books

bench/out/jupyter-real: | $(VENV)/.dev
	$(PY) -m bench.jupyter.fetch_notebooks $(FETCH_FROM) --out $@
bench/out/arxiv/papers: | $(VENV)/.dev
	$(PY) -m bench.arxiv.fetch_papers $(FETCH_FROM) --out $@
bench/out/ebooks/books: | $(VENV)/.dev
	$(PY) -m bench.ebooks.fetch_books $(FETCH_FROM) --out $@

# img2dataset, bench_fetch.py's baseline, in a venv of its own: its pins would downgrade packages
# vlpipe needs (webdataset). Pinned to the version bench/RESULTS.md measured.
$(IMG2DATASET):
	$(PYTHON) -m venv bench/out/img2dataset-venv
	bench/out/img2dataset-venv/bin/pip install -qq --disable-pip-version-check img2dataset==1.47.0

# Local copies of the CDN assets WebSight pages link (recipe websight.local_assets): Tailwind CSS
# 2.2.19's dist/tailwind.min.css from npm's registry, so screenshots are styled without network.
TAILWIND_CSS := $(VENV)/share/vlpipe/assets/tailwind-2.2.19.min.css
# KaTeX 0.19.1 (MIT), which typesets the exams source's math in the page: katex.min.js,
# katex.min.css and the woff2 fonts of its dist (recipe exams.katex).
KATEX := $(VENV)/share/vlpipe/assets/katex-0.19.1

assets: system-packages $(TAILWIND_CSS) $(KATEX)/katex.min.js

$(TAILWIND_CSS):
	@mkdir -p $(@D)
	TMP=$$(mktemp -d) && trap 'rm -rf "$$TMP"' EXIT && \
	  (cd "$$TMP" && npm pack --silent tailwindcss@2.2.19 >/dev/null && \
	   tar -xzmf tailwindcss-2.2.19.tgz package/dist/tailwind.min.css) && \
	  mv "$$TMP/package/dist/tailwind.min.css" $@

$(KATEX)/katex.min.js:
	@mkdir -p $(KATEX)/fonts
	TMP=$$(mktemp -d) && trap 'rm -rf "$$TMP"' EXIT && \
	  (cd "$$TMP" && npm pack --silent katex@0.19.1 >/dev/null && \
	   tar -xzmf katex-0.19.1.tgz package/dist package/LICENSE) && \
	  cp "$$TMP"/package/dist/fonts/*.woff2 $(KATEX)/fonts/ && \
	  cp "$$TMP"/package/dist/katex.min.css "$$TMP"/package/LICENSE $(KATEX)/ && \
	  mv "$$TMP"/package/dist/katex.min.js $@

# npm (for `assets`) usually comes with the machine's Node.js; Debian's package is the fallback.
system-packages:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 && command -v npm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  NPM=$$(command -v npm >/dev/null || echo npm); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    $(DEBIAN_PACKAGES) $$NPM; }
