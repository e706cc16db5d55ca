# syntax=docker/dockerfile:1
#
# The meshbroker image: a build stage that installs the locked dependencies and the
# project (as a wheel, not editable) into /app/.venv with uv, and a slim runtime stage
# that receives only that virtual environment. Choices: docs/adr/0010-container-image.md.
#
#   docker build --build-arg GIT_SHA="$(git rev-parse --short HEAD)" -t meshbroker .
#   docker run --rm -p 7900:7900 -e DATABASE_URL=postgresql://... meshbroker

# ---------------------------------------------------------------- build
FROM python:3.11-slim AS build

# uv: pinned, from PyPI (the lock was written by this version).
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9

# Byte-compile at build time (the runtime user cannot write into the venv); copy
# files out of the cache mount instead of hard-linking; never download a Python:
# the venv must use the interpreter that the runtime stage has at the same path.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11

WORKDIR /app

# Dependencies first, from the lock alone, so that a change to src/ reuses this layer.
# pgserver (the embedded Postgres for development) is left out: the image runs with
# NODE_ENV=production, where DATABASE_URL is required and it is never imported.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-editable \
        --no-install-package pgserver

# Then the project itself, built as a wheel (with the migrations' SQL inside it).
COPY src ./src
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-package pgserver

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

RUN groupadd --gid 1000 broker \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin broker

# Owned by root and read-only to the broker: the process cannot change its own code.
COPY --from=build /app/.venv /app/.venv

WORKDIR /app

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NODE_ENV=production \
    BROKER_HOST=0.0.0.0

# Last, so that a new commit changes only the final layers. Empty (not passed) means
# "unknown" on /health; when passed it must be 4 to 64 hex digits, or the broker
# refuses to start (config.py validates GIT_SHA).
ARG GIT_SHA=""
ENV GIT_SHA=$GIT_SHA
LABEL org.opencontainers.image.title="meshbroker" \
      org.opencontainers.image.revision=$GIT_SHA

USER 1000:1000
EXPOSE 7900

# No curl in the image: Python asks /health. A 503 raises HTTPError, a refused or
# hung connection raises too: each is "unhealthy" (exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request\ntry:\n    url = 'http://localhost:%s/health' % (os.environ.get('BROKER_PORT') or '7900')\n    ok = urllib.request.urlopen(url, timeout=4).status == 200\nexcept Exception:\n    ok = False\nsys.exit(0 if ok else 1)"]

CMD ["meshbroker", "serve"]
