# The Marketplace service of chapter 4 as a container image. The build
# context is the repository root:
#
#	docker build -f ch04-kubernetes/marketplace.Dockerfile -t bookstore/marketplace:ch04 .

# Stage 1 builds the binary with the Go toolchain.
FROM golang:1.26 AS build
WORKDIR /src
# A module proxy of your own, if you need one (the tests pass a local one).
ARG GOPROXY
# The chapter whose binary the image holds: later chapters build their
# images from this file with --build-arg CHAPTER=<its folder>.
ARG CHAPTER=ch04-kubernetes
# The modules first, in a layer of their own, which Docker rebuilds only
# when go.mod or go.sum change, not on every change to the code.
COPY go.mod go.sum ./
RUN ["go", "mod", "download"]
COPY . .
# No cgo: a static binary, which needs no C library where it runs.
ENV CGO_ENABLED=0
RUN ["go", "build", "-trimpath", "-o", "/out/", "./ch04-kubernetes/cmd/healthcheck"]
# RUN's exec form expands no variables, WORKDIR does: build from the
# chapter's folder.
WORKDIR /src/${CHAPTER}
RUN ["go", "build", "-trimpath", "-o", "/out/", "./cmd/marketplace"]

# Stage 2 is what ships: distroless "static" holds CA certificates,
# /etc/passwd and time zones, and no shell or package manager, so there is
# nothing in it to attack or patch but our binary. The nonroot tag runs it
# as user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marketplace /out/healthcheck /
USER nonroot:nonroot
EXPOSE 5000
ENTRYPOINT ["/marketplace"]
