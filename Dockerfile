# syntax=docker/dockerfile:1
# vlpipe's image: the programs the renderers and sources run (the Makefile's Debian packages:
# Chromium, TeX Live, pandoc, tesseract …, and the WebSight/KaTeX assets), vlpipe with Ray's job
# server and the object-store clients, and PyTorch for the trainer. One image runs a cluster's
# head and workers (KubeRay), a build's driver, and `vlpipe submit`.
#   docker build -t vlpipe:0.1.0 .                                    CPU (PyTorch's CPU wheel)
#   docker build --build-arg TORCH_INDEX= -t vlpipe:0.1.0-cuda .      CUDA, for training on GPUs
# An empty TORCH_INDEX takes torch from PyPI, whose Linux wheels are CUDA builds; the NVIDIA
# driver comes from the node (NVIDIA's container toolkit). tests/cluster/test_deploy.py checks
# that the pins below match the Makefile and the manifests in deploy/.
FROM python:3.11-slim-bookworm

ARG RAY_VERSION=2.60.0
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV VIRTUAL_ENV=/opt/vlpipe PATH=/opt/vlpipe/bin:$PATH PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# The Debian packages and assets `make test` installs, from the Makefile itself.
COPY Makefile /tmp/vlpipe/Makefile
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends make \
    && make -C /tmp/vlpipe system-packages \
    && python -m venv "$VIRTUAL_ENV" \
    && make -C /tmp/vlpipe VENV="$VIRTUAL_ENV" assets \
    && rm -rf /var/lib/apt/lists/* /tmp/vlpipe /root/.npm

RUN pip install -q "torch==${TORCH_VERSION}" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}

# vlpipe itself, from the build context (mounted, not copied: the image holds the installed package).
RUN --mount=type=bind,source=.,target=/src,rw \
    pip install -q "/src[train,cloud,cluster]" "ray[default,data]==${RAY_VERSION}"

# Ray on KubeRay runs as any user; this one owns nothing but its home.
RUN useradd --create-home --uid 1000 vlpipe
USER vlpipe
WORKDIR /home/vlpipe
CMD ["vlpipe", "--help"]
