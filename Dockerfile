# Multi-stage: static binaries on an empty image. stella-oras is the thin
# front (version, discover, attach, pull in-process); it executes
# stella-engine, beside it, for every other command.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN mkdir /out && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/stella-oras ./cmd/stella-engine ./cmd/stella-registry ./cmd/stella-schema
# scratch has no /tmp, where the tool makes its temporary directories
# (demo, layout tars, pulls): /rootfs/tmp, world-writable and sticky, is
# copied as an entry of /rootfs so that its mode comes along (COPY of a
# directory itself would copy only its contents).
RUN mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp

FROM scratch
# The build image's CA bundle (Debian's ca-certificates), the first file Go
# looks for on Linux: without it no TLS registry's certificate verifies.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /rootfs/ /
COPY --from=build /out/stella-oras /out/stella-engine /out/stella-registry /out/stella-schema /
ENTRYPOINT ["/stella-oras"]
