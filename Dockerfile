# syntax=docker/dockerfile:1
# Tebura: one static binary, in two images (docs/deploy.md says which step kinds run in which):
#   docker build -t tebura .                      distroless, no shell: run steps of programs
#                                                 you add, http, ssh and kubernetes steps
#   docker build --target tools -t tebura:tools . Debian slim with sh, curl, jq, ansible and
#                                                 openssh-client: script and ansible steps too
# Both run as non-root (uid 65532) with their state in /data.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pass what `make` would stamp (docs/release.md), e.g.
#   --build-arg VERSION=$(git describe --tags --match 'v*' --exact-match) \
#   --build-arg COMMIT=$(git rev-parse --short=7 HEAD) --build-arg DATE=$(git log -1 --format=%cI)
# The flags are the Makefile's (a test in the repository keeps them equal).
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG DATE=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/tebura ./cmd/tebura \
 && mkdir -p /out/data

# tebura:tools, for script and ansible steps: the same binary on Debian slim with the tools
# those steps call. Steps run as the nonroot user, whose home holds Ansible's temp files and
# ~/.ssh (mount a known_hosts and keys for ssh and ansible steps there, or name them in config).
FROM debian:12-slim AS tools
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl jq ansible openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --create-home --home-dir /home/nonroot --shell /bin/sh nonroot
COPY --from=build /out/tebura /usr/local/bin/tebura
COPY --from=build /src/config.example.yaml /etc/tebura/tebura.yaml
COPY --from=build /src/runbooks/examples /etc/tebura/runbooks/examples
COPY --from=build --chown=65532:65532 /out/data /data
ENV TEBURA_CONFIG=/etc/tebura/tebura.yaml \
    TEBURA_DATA_DIR=/data \
    TEBURA_HTTP_LISTEN=0.0.0.0:8080
USER 65532:65532
VOLUME /data
EXPOSE 8080
WORKDIR /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tebura", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tebura"]
CMD ["serve"]

# The default image (the last stage): distroless, no shell.
FROM gcr.io/distroless/static-debian12:nonroot AS default
COPY --from=build /out/tebura /usr/local/bin/tebura
# The example config and runbooks; mount your own over /etc/tebura.
COPY --from=build /src/config.example.yaml /etc/tebura/tebura.yaml
COPY --from=build /src/runbooks/examples /etc/tebura/runbooks/examples
# The data directory must be writable by the nonroot user (uid 65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV TEBURA_CONFIG=/etc/tebura/tebura.yaml \
    TEBURA_DATA_DIR=/data \
    TEBURA_HTTP_LISTEN=0.0.0.0:8080
USER 65532:65532
VOLUME /data
EXPOSE 8080
WORKDIR /data
# distroless has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tebura", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tebura"]
CMD ["serve"]
