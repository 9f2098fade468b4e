# A stand-in for localstack/localstack where no registry is reachable: LocalStack from PyPI
# (`localstack-core`) in the official image's layout (virtualenv at /opt/code/localstack/.venv
# with pip, wheel and setuptools), so docker/localstack.Dockerfile builds FROM it unchanged.
# Build context: constraints.txt (the plug-in's pins for that release) and certs/ (extra CA
# certificates for the download from PyPI; may be empty).
# BASE_IMAGE: a Debian trixie image with python3 (3.13), python3-venv and ca-certificates, as
# the official image's python:3.13-slim-trixie.
ARG BASE_IMAGE=python:3.13-slim-trixie
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ARG LOCALSTACK_VERSION=4.14.0
# uv installs the ~100 packages in seconds (pip took minutes); it is not left in the image.
# UV_VERSION: the kit's pin (constraints.txt), passed by the tests that build this image.
ARG UV_VERSION
COPY certs/ /usr/local/share/ca-certificates/jerp-host/
COPY constraints.txt /tmp/constraints.txt
WORKDIR /opt/code/localstack
RUN update-ca-certificates \
 && python3 -m venv .venv \
 && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
 && .venv/bin/pip install --no-cache-dir --quiet --upgrade pip wheel setuptools \
 && python3 -m venv /tmp/uv && /tmp/uv/bin/pip install --no-cache-dir --quiet "uv==${UV_VERSION}" \
 && /tmp/uv/bin/uv pip install --no-cache --quiet --native-tls --python .venv/bin/python \
      -c /tmp/constraints.txt \
      "localstack-core[runtime]==${LOCALSTACK_VERSION}" "cbor2<6" service-identity \
 && rm -r /tmp/constraints.txt /tmp/uv \
 && mkdir -p /var/lib/localstack /tmp/localstack
ENV LOCALSTACK_BUILD_VERSION=${LOCALSTACK_VERSION} \
    PYTHONUNBUFFERED=1 \
    GATEWAY_LISTEN=0.0.0.0:4566
EXPOSE 4566
ENTRYPOINT ["/opt/code/localstack/.venv/bin/python", "-m", "localstack.runtime.main"]
