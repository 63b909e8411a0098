# The build container: the Go image of the user's choice (by default the official image of the Go
# release Dragonfly's go.mod asks for, e.g. golang:1.20.14-bookworm)
# plus builder/build.sh, a non-root build user and Go's caches at fixed paths, where d7y-build mounts
# its cache volumes. Nothing of the user's machine is mounted: sources arrive as tar streams.
ARG GO_IMAGE
FROM ${GO_IMAGE}

RUN set -eu; \
    echo 'd7y:x:10001:10001:d7y-build:/home/d7y:/bin/sh' >> /etc/passwd; \
    echo 'd7y:x:10001:' >> /etc/group; \
    mkdir -p /home/d7y/go/pkg/mod /home/d7y/.cache/go-build /work/plugins /work/out /work/ws; \
    # Dragonfly's default directories (pkg/dfpath): its commands create them at start, as the
    # non-root build user too when validating.
    mkdir -p /usr/local/dragonfly/plugins /var/cache/dragonfly /var/log/dragonfly /var/lib/dragonfly /etc/dragonfly; \
    chown -R 10001:10001 /home/d7y /work /usr/local/dragonfly /var/cache/dragonfly /var/log/dragonfly \
                         /var/lib/dragonfly /etc/dragonfly; \
    # Credentials arrive at run time on a tmpfs at /run/d7y-secrets (d7y-build --netrc, GIT_AUTH_TOKEN);
    # go and git read ~/.netrc.
    ln -s /run/d7y-secrets/netrc /home/d7y/.netrc

COPY builder/ /usr/local/lib/d7y-build/
# d7y-apicheck reads Go source for the check before compiling and for `init`; built with the image's
# own Go, its cache thrown away (the cache volumes mounted later must not hold root's files). An
# image without Go still builds: start-container then says the image has no working Go.
RUN if command -v go >/dev/null 2>&1; then \
      cd /usr/local/lib/d7y-build/apicheck && \
      GOCACHE=/tmp/apicheck-cache GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 go build -o /usr/local/lib/d7y-build/d7y-apicheck . && \
      rm -rf /tmp/apicheck-cache; \
    fi

# GOTOOLCHAIN=local: the image's Go is the one recorded, never a silently downloaded other one.
# CGO_ENABLED=1: a host built without cgo can't load plugins at all ("plugin: not implemented").
# No GOFLAGS: d7y-build sets them per go command, fit for the image's Go (-buildvcs from Go 1.18).
ENV HOME=/home/d7y \
    GOPATH=/home/d7y/go \
    GOMODCACHE=/home/d7y/go/pkg/mod \
    GOCACHE=/home/d7y/.cache/go-build \
    GOTOOLCHAIN=local \
    CGO_ENABLED=1

USER 10001:10001
WORKDIR /work
CMD ["sleep", "infinity"]
