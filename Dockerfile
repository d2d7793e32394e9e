# syntax=docker/dockerfile:1
#
# dnsemu: a DNS server that answers the way Azure DNS answers inside a virtual network.
#
#   docker build -t dnsemu .
#   docker run --rm -p 5390:53/udp -p 5390:53/tcp dnsemu
#   dig @127.0.0.1 -p 5390 mystorage.blob.core.windows.net
#
# The topology is read from /zones/topology.yaml (a volume: mount your own estate
# there, it is reloaded when it changes). Extra settings go in DNSEMU_* environment
# variables (DNSEMU_UPSTREAMS=127.0.0.11, DNSEMU_LOG_LEVEL=debug ...); arguments
# given to `docker run` replace the default arguments below.
#
# The image runs as the numeric user 65532 and still binds port 53: Docker sets
# net.ipv4.ip_unprivileged_port_start=0 in a container's own network namespace
# (not with --network host, where it needs --cap-add NET_BIND_SERVICE or another port).

# ----------------------------------------------------------------------------- build
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONSTRAINT=/src/docker/constraints.txt

WORKDIR /src
COPY docker/constraints.txt docker/constraints.txt
COPY pyproject.toml README.md LICENSE ./
COPY dnsemu/ dnsemu/

# Wheels of dnsemu and of every pinned dependency (all of them ship binary wheels,
# so no compiler is needed here either).
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[fast]" \
 && cp docker/constraints.txt /wheels/constraints.txt

# ----------------------------------------------------------------------------- run
FROM python:3.11.11-slim-bookworm

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="dnsemu" \
      org.opencontainers.image.description="A DNS server that answers the way Azure DNS answers from inside a given virtual network" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.11-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install from the builder's wheels only (no index, nothing compiled), through a bind
# mount so that the wheels never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels --constraint=/wheels/constraints.txt "dnsemu[fast]"

# the bundled estate (the checkout's zones/ is a link to this folder of the package)
COPY dnsemu/estates/example/ /zones/
VOLUME /zones

# 53: DNS over UDP and TCP; 9153: Prometheus metrics (CoreDNS's port).
EXPOSE 53/udp 53/tcp 9153

USER 65532:65532

# The health check reads GET /readyz on the HTTP listener (--http, in the default arguments
# below) with the standard library's urllib: 200 once the topology is loaded and every DNS
# socket is bound. /healthz and /readyz are answered even while slow or hostile clients
# hold every HTTP connection slot, so they cannot get a healthy server restarted. The
# Host it sends, 127.0.0.1:9153, is one the listener answers (SECURITY.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "dnsemu.healthcheck", "http://127.0.0.1:9153/readyz", "--timeout", "2"]

# dnsemu stops on SIGTERM: it closes its sockets, finishes in-flight queries and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dnsemu", "serve"]
CMD ["--topology", "/zones/topology.yaml", "--listen", "0.0.0.0:53", "--http", "--http-listen", "0.0.0.0:9153"]
