# syntax=docker/dockerfile:1
# Tebura: a static binary on distroless, running as non-root with its state in /data.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pass what `make` would stamp (docs/release.md), e.g.
#   --build-arg VERSION=$(git describe --tags --match 'v*' --exact-match) \
#   --build-arg COMMIT=$(git rev-parse --short=7 HEAD) --build-arg DATE=$(git log -1 --format=%cI)
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG DATE=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/tebura ./cmd/tebura \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tebura /usr/local/bin/tebura
# The example config and runbooks; mount your own over /etc/tebura.
COPY --from=build /src/config.example.yaml /etc/tebura/tebura.yaml
COPY --from=build /src/runbooks/examples /etc/tebura/runbooks/examples
# The data directory must be writable by the nonroot user (uid 65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV TEBURA_CONFIG=/etc/tebura/tebura.yaml \
    TEBURA_DATA_DIR=/data \
    TEBURA_HTTP_LISTEN=0.0.0.0:8080
USER nonroot
VOLUME /data
EXPOSE 8080
WORKDIR /data
# distroless has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tebura", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tebura"]
CMD ["serve"]
