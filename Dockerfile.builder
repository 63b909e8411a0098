# The build container: the Go image of the user's choice (by default the official image of the Go
# release Dragonfly's go.mod asks for, e.g. golang:1.20.14-bookworm)
# plus builder/build.sh, a non-root build user and Go's caches at fixed paths, where d7y-build mounts
# its cache volumes. Nothing of the user's machine is mounted: sources arrive as tar streams.
# Every path and id comes in as a build arg from d7y-build's container layout (src/session/layout.ts).
ARG GO_IMAGE
FROM ${GO_IMAGE}

ARG D7Y_USER
ARG D7Y_UID
ARG D7Y_GID
ARG D7Y_HOME
ARG D7Y_GOPATH
ARG D7Y_GOMODCACHE
ARG D7Y_GOCACHE
ARG D7Y_HOST_CACHE
ARG D7Y_WORK
ARG D7Y_PLUGIN_SOURCES
ARG D7Y_WORKSPACES
ARG D7Y_OUT
ARG D7Y_TOOLS
ARG D7Y_APICHECK
ARG D7Y_SECRET_NETRC
ARG D7Y_DRAGONFLY_WORK_HOME
ARG D7Y_DRAGONFLY_PLUGIN_DIR
ARG D7Y_DRAGONFLY_CACHE_DIR
ARG D7Y_DRAGONFLY_LOG_DIR
ARG D7Y_DRAGONFLY_DATA_DIR
ARG D7Y_DRAGONFLY_CONFIG_DIR

# A missing build arg fails here, before USER, WORKDIR or ENV could take an empty value.
RUN set -eu; \
    for v in D7Y_USER D7Y_UID D7Y_GID D7Y_HOME D7Y_GOPATH D7Y_GOMODCACHE D7Y_GOCACHE D7Y_HOST_CACHE D7Y_WORK \
             D7Y_PLUGIN_SOURCES D7Y_WORKSPACES D7Y_OUT D7Y_TOOLS D7Y_APICHECK D7Y_SECRET_NETRC \
             D7Y_DRAGONFLY_WORK_HOME D7Y_DRAGONFLY_PLUGIN_DIR D7Y_DRAGONFLY_CACHE_DIR \
             D7Y_DRAGONFLY_LOG_DIR D7Y_DRAGONFLY_DATA_DIR D7Y_DRAGONFLY_CONFIG_DIR; do \
      eval "[ -n \"\${$v:-}\" ]" || { echo "Dockerfile.builder: build arg $v is not set (d7y-build passes the container layout)" >&2; exit 1; }; \
    done; \
    echo "$D7Y_USER:x:$D7Y_UID:$D7Y_GID:d7y-build:$D7Y_HOME:/bin/sh" >> /etc/passwd; \
    echo "$D7Y_USER:x:$D7Y_GID:" >> /etc/group; \
    mkdir -p "$D7Y_GOMODCACHE" "$D7Y_GOCACHE" "$D7Y_HOST_CACHE" "$D7Y_PLUGIN_SOURCES" "$D7Y_OUT" "$D7Y_WORKSPACES"; \
    # Dragonfly's default directories (pkg/dfpath): its commands create them at start, as the
    # non-root build user too when validating.
    mkdir -p "$D7Y_DRAGONFLY_PLUGIN_DIR" "$D7Y_DRAGONFLY_CACHE_DIR" "$D7Y_DRAGONFLY_LOG_DIR" \
             "$D7Y_DRAGONFLY_DATA_DIR" "$D7Y_DRAGONFLY_CONFIG_DIR"; \
    chown -R "$D7Y_UID:$D7Y_GID" "$D7Y_HOME" "$D7Y_WORK" "$D7Y_DRAGONFLY_WORK_HOME" "$D7Y_DRAGONFLY_CACHE_DIR" \
                                 "$D7Y_DRAGONFLY_LOG_DIR" "$D7Y_DRAGONFLY_DATA_DIR" "$D7Y_DRAGONFLY_CONFIG_DIR"; \
    # Credentials arrive at run time on a tmpfs (d7y-build --netrc, GIT_AUTH_TOKEN); go and git
    # read ~/.netrc.
    ln -s "$D7Y_SECRET_NETRC" "$D7Y_HOME/.netrc"

COPY builder/ ${D7Y_TOOLS}/
# d7y-apicheck reads Go source for the check before compiling and for `init`; built with the image's
# own Go, its cache thrown away (the cache volumes mounted later must not hold root's files). An
# image without Go still builds: start-container then says the image has no working Go.
RUN if command -v go >/dev/null 2>&1; then \
      cd "$D7Y_TOOLS/apicheck" && \
      GOCACHE=/tmp/apicheck-cache GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 go build -o "$D7Y_APICHECK" . && \
      rm -rf /tmp/apicheck-cache; \
    fi

# GOTOOLCHAIN=local: the image's Go is the one recorded, never a silently downloaded other one.
# CGO_ENABLED=1: a host built without cgo can't load plugins at all ("plugin: not implemented").
# No GOFLAGS: d7y-build sets them per go command, fit for the image's Go (-buildvcs from Go 1.18).
ENV HOME=${D7Y_HOME} \
    GOPATH=${D7Y_GOPATH} \
    GOMODCACHE=${D7Y_GOMODCACHE} \
    GOCACHE=${D7Y_GOCACHE} \
    GOTOOLCHAIN=local \
    CGO_ENABLED=1

USER ${D7Y_UID}:${D7Y_GID}
WORKDIR ${D7Y_WORK}
CMD ["sleep", "infinity"]
