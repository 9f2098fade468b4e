# HAProxy for `make dev`, Debian's package on a Debian base: the same image whether the base
# comes from a registry (the default) or from debootstrap (BASE_IMAGE, no registry needed; the
# kit's base has haproxy already, so nothing is downloaded).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
RUN if ! command -v haproxy >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && haproxy -v
COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
ENV NLB_BIND=:80 JERP_1=jerp-1:8080 JERP_2=jerp-2:8080
# The syntax check resolves server names; compose's jerp-1/jerp-2 exist only at run time.
RUN NLB_BIND=127.0.0.1:80 JERP_1=127.0.0.1:1 JERP_2=127.0.0.1:2 \
      haproxy -c -f /usr/local/etc/haproxy/haproxy.cfg
# SIGUSR1: finish the connections in flight, then exit.
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
