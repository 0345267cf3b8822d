# syntax=docker/dockerfile:1
# One image for every entry point: `payment-service serve|migrate|reconcile`
# and `payment-graphql`. The chart picks one with `args`.
#
# Stages: build (virtualenv with the locked runtime dependencies and the
# package) -> base (slim runtime, non-root) -> dev (Tilt: source in /app,
# writable for live_update) -> runtime (the default, last stage).

# Exact version, so rebuilds are reproducible; bump deliberately.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
# base.in lists the runtime dependencies (pyproject's [project].dependencies);
# lock.txt pins them and their transitive dependencies.
COPY requirements/base.in requirements/lock.txt requirements/
RUN pip install --no-cache-dir --constraint requirements/lock.txt -r requirements/base.in
COPY pyproject.toml ./
COPY service/ service/
COPY gateway/ gateway/
COPY common/ common/
# --no-deps: everything is already pinned above; pip check fails the build if
# pyproject.toml gained a dependency that base.in lacks.
RUN pip install --no-cache-dir --no-deps . && pip check

FROM ${PYTHON_IMAGE} AS base
LABEL org.opencontainers.image.title="payment-service" \
      org.opencontainers.image.description="Payment service: gRPC API, GraphQL gateway, migrations, reconciliation" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid: Kubernetes' runAsNonRoot can only verify a number.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# gRPC, payment metrics, GraphQL, GraphQL metrics.
EXPOSE 50051 9464 8000 9465
# No ENTRYPOINT: Kubernetes `args` (and Tilt's restart wrapper) choose the process.
CMD ["payment-service", "serve"]

# Tilt's live_update target: the source is synced into /app/{service,gateway,common},
# which shadows the installed packages through PYTHONPATH.
FROM base AS dev
USER 0:0
RUN install -d -o 10001 -g 10001 /app
USER 10001:10001
COPY --chown=10001:10001 service/ /app/service/
COPY --chown=10001:10001 gateway/ /app/gateway/
COPY --chown=10001:10001 common/ /app/common/
ENV PYTHONPATH=/app
WORKDIR /app

FROM base AS runtime
