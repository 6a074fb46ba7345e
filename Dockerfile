# syntax=docker/dockerfile:1
# One image for the four Sluice services; the command picks the role:
#   docker run IMAGE service gateway|scheduler|executor|artifacts
# Configuration comes from SLUICE_* environment variables (docs/deploy.md).

# --- build: install Sluice and its dependencies into a self-contained virtualenv ---
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/sluice
WORKDIR /src
COPY . .
# requirements.lock pins every transitive dependency, so the image gets the versions CI
# tested. It is used as constraints: it also pins the test tools, which are not installed.
RUN /opt/sluice/bin/pip install --constraint requirements.lock .

# --- runtime: the virtualenv on a clean base, run as an unprivileged user ---
FROM python:3.11-slim

LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice: a light, fast ML workflow platform compatible with Kubeflow Pipelines" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric UID/GID so Kubernetes can verify `runAsNonRoot` and volumes can be
# chowned to it (fsGroup).
RUN groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sluice --create-home \
       --shell /usr/sbin/nologin sluice

COPY --from=build /opt/sluice /opt/sluice

ENV PATH=/opt/sluice/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/sluice

WORKDIR /var/lib/sluice
USER 10001:10001

# gateway HTTP (API + UI) and gRPC; scheduler gRPC; artifacts gRPC; executor health.
EXPOSE 8888 8889 50051 50052 50053

# No image-level HEALTHCHECK on purpose: this one image runs four different services,
# each with its own health endpoint (HTTP for the gateway, grpc.health.v1 on a
# different port for the others). docker-compose.yaml and the Helm chart define the
# right check for each service.
HEALTHCHECK NONE

ENTRYPOINT ["sluice"]
CMD ["--help"]
