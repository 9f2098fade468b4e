# LocalStack with the kit's PrivateLink plug-in: swap one image line in a compose file.
#   docker build -f docker/localstack.Dockerfile -t jerp-localstack harness/controlplane/localstack_plugin
#   services:
#     localstack:
#       image: jerp-localstack        # instead of localstack/localstack:4.14.0
# LOCALSTACK_IMAGE: an image laid out like LocalStack's official one (its virtualenv at
# /opt/code/localstack/.venv). The default is the last tag that starts without an auth token.
ARG LOCALSTACK_IMAGE=localstack/localstack:4.14.0
FROM ${LOCALSTACK_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
COPY . /tmp/jerp-localstack-plugin/
# Into LocalStack's own virtualenv, without dependencies (the plug-in runs on the LocalStack
# that is there) and with the venv's own setuptools, so the build downloads nothing.
# LocalStack finds the plug-in through its entry points (plux).
RUN /opt/code/localstack/.venv/bin/python -m pip install --no-cache-dir --quiet --no-deps \
      --no-build-isolation /tmp/jerp-localstack-plugin \
 && rm -rf /tmp/jerp-localstack-plugin \
 && /opt/code/localstack/.venv/bin/python -c 'import jerp_localstack.providers'
# The plug-in's EC2 provider replaces LocalStack's (the ELBv2 provider is the only one there is
# in the community image, so it needs no override).
ENV PROVIDER_OVERRIDE_EC2=jerp
