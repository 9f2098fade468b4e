# The whole harness in one privileged container, for machines without root or without Linux:
#   make harness-image
#   docker run --rm -it --privileged jerp-harness make deploy check destroy
# The emulator's namespaces, bridges and nftables rules then live inside the container's own
# network namespace, never the host's. Build context: prepared by `harness image build`
# (the repository plus the host's terraform binary when there is one).
# BASE_IMAGE needs Debian bookworm; LocalStack needs Python >= 3.12, which the default
# (official python:3.12 slim) provides at /usr/local/bin/python3.12.
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      haproxy dnsmasq-base nftables iproute2 procps psmisc curl wrk dnsutils graphviz \
      make git ca-certificates python3 python3-venv unzip \
 && rm -rf /var/lib/apt/lists/*
COPY bin/ /usr/local/bin/
COPY repo/ /opt/jerp-kit/
WORKDIR /opt/jerp-kit
# Build both virtualenvs at image build time so `make deploy` starts at once.
RUN make venv && (.venv/bin/python -m harness localstack install || \
      echo "LocalStack venv not built: no Python >= 3.12 in this base image")
ENTRYPOINT ["make"]
CMD ["deploy", "check"]
