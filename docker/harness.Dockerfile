# The whole harness in one privileged container, for machines without root or without Linux:
#   make harness-image      (or: python -m harness image build)
#   docker run --rm --privileged jerp-harness deploy check destroy
# The emulator's namespaces, bridges and nftables rules live inside the container's own network
# namespace, never the host's; LocalStack runs inside the container as a process.
# Build context (prepared by `harness image build`): repo/ (the committed tree, `git archive`),
# bin/terraform (the host's binary: Terraform is not a Debian package) and certs/ (extra CA
# certificates for the build's downloads; may be empty).
# The hashicorp/aws provider is downloaded from the registry at `deploy`, or, offline, read from
# a mirror mounted at Terraform's implied local mirror directory:
#   docker run ... -v /path/to/mirror:/usr/local/share/terraform/plugins:ro jerp-harness ...
# BASE_IMAGE: any Debian trixie (or newer) based image; LocalStack needs Python >= 3.13, which
# trixie's python3 is. With no registry, `harness image build --debootstrap-base` makes one.
ARG BASE_IMAGE=python:3.13-slim-trixie
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      haproxy dnsmasq-base nftables iproute2 procps psmisc curl bind9-dnsutils \
      make ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -c 'import sys; v = sys.version_info; assert v >= (3, 13), \
      f"BASE_IMAGE has Python {v.major}.{v.minor}; LocalStack needs >= 3.13 (use a trixie base)"'
# certs/: the host's CA certificates (empty when it has none to share), so the pip steps
# below reach PyPI as the host does, also behind a TLS-inspecting proxy; pip then uses the
# system store rather than its own bundle.
COPY certs/ /usr/local/share/ca-certificates/jerp-host/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
COPY bin/terraform /usr/local/bin/terraform
RUN terraform version
COPY repo/ /opt/jerp-kit/
WORKDIR /opt/jerp-kit
# The kit with its run-time extras only (lint and test tools stay out of the image); the stamp
# is the Makefile's, so `make deploy` in the container does not reinstall.
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --quiet -c constraints.txt -e '.[harness]' \
 && touch .venv/.installed
# LocalStack's own virtualenv with the plug-in, and the wheelhouse the EC2 instances install:
# both built now so `deploy` starts at once and needs no PyPI.
RUN .venv/bin/python -m harness localstack install \
 && .venv/bin/python -m harness.packaging.wheelhouse .harness/wheelhouse \
 && rm -rf /root/.cache
# No version check against checkpoint-api.hashicorp.com: the container may have no network.
ENV CHECKPOINT_DISABLE=1
ENTRYPOINT ["make"]
CMD ["deploy", "check"]
