# Multi-stage: a static stella-oras on an empty image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN mkdir /out && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/stella-oras ./cmd/stella-registry ./cmd/stella-schema

FROM scratch
COPY --from=build /out/stella-oras /out/stella-registry /out/stella-schema /
ENTRYPOINT ["/stella-oras"]
