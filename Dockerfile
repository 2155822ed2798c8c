# Multi-stage: a static stella-oras on an empty image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /stella-oras ./cmd/stella-oras

FROM scratch
COPY --from=build /stella-oras /stella-oras
ENTRYPOINT ["/stella-oras"]
