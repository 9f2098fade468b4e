# A stand-in for localstack/localstack where no registry is reachable: LocalStack from PyPI
# (`localstack-core`) in the official image's layout (virtualenv at /opt/code/localstack/.venv),
# so docker/localstack.Dockerfile builds FROM it unchanged. Build context: the plug-in's
# directory (for the constraints pinning LocalStack's dependencies).
# BASE_IMAGE: a Debian trixie image with python3 (3.13) and python3-venv, as the official
# image's python:3.13-slim-trixie.
ARG BASE_IMAGE=python:3.13-slim-trixie
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ARG LOCALSTACK_VERSION=4.14.0
ARG CONSTRAINTS=constraints.txt
COPY ${CONSTRAINTS} /tmp/constraints.txt
WORKDIR /opt/code/localstack
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --quiet -c /tmp/constraints.txt \
      "localstack-core[runtime]==${LOCALSTACK_VERSION}" "cbor2<6" service-identity \
 && rm /tmp/constraints.txt \
 && mkdir -p /var/lib/localstack /tmp/localstack
ENV LOCALSTACK_BUILD_VERSION=${LOCALSTACK_VERSION} \
    PYTHONUNBUFFERED=1 \
    GATEWAY_LISTEN=0.0.0.0:4566
EXPOSE 4566
ENTRYPOINT ["/opt/code/localstack/.venv/bin/python", "-m", "localstack.runtime.main"]
