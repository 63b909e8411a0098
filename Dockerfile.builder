# The build container: the Go image of the user's choice (by default the official image of the Go
# release Dragonfly's go.mod asks for, e.g. golang:1.20.14-bookworm)
# plus builder/build.sh, a non-root build user and Go's caches at fixed paths, where d7y-build mounts
# its cache volumes. Nothing of the user's machine is mounted: sources arrive as tar streams.
# Every path and id comes in as a build arg from d7y-build's container layout (src/session/layout.ts).
ARG GO_IMAGE
FROM ${GO_IMAGE}

# One ARG instruction for the layout (Docker Engine 20.10 and newer): the classic builder commits a
# layer for every instruction, a fifth of a second each.
# D7Y_CROSS_PACKAGES: the Debian packages a --platform of another architecture needs (the cross
# compiler, its libc, qemu-user to run the result; src/platform.ts), empty for the native one.
ARG D7Y_USER D7Y_UID D7Y_GID D7Y_HOME D7Y_GOPATH D7Y_GOMODCACHE D7Y_GOCACHE D7Y_HOST_CACHE D7Y_WORK \
    D7Y_PLUGIN_SOURCES D7Y_WORKSPACES D7Y_OUT D7Y_TOOLS D7Y_APICHECK D7Y_SECRET_NETRC \
    D7Y_DRAGONFLY_WORK_HOME D7Y_DRAGONFLY_PLUGIN_DIR D7Y_DRAGONFLY_CACHE_DIR \
    D7Y_DRAGONFLY_LOG_DIR D7Y_DRAGONFLY_DATA_DIR D7Y_DRAGONFLY_CONFIG_DIR D7Y_CROSS_PACKAGES

COPY builder/ ${D7Y_TOOLS}/

# One RUN (one layer, one container): a missing build arg fails here, before USER, WORKDIR or ENV
# could take an empty value.
RUN set -eu; \
    for v in D7Y_USER D7Y_UID D7Y_GID D7Y_HOME D7Y_GOPATH D7Y_GOMODCACHE D7Y_GOCACHE D7Y_HOST_CACHE D7Y_WORK \
             D7Y_PLUGIN_SOURCES D7Y_WORKSPACES D7Y_OUT D7Y_TOOLS D7Y_APICHECK D7Y_SECRET_NETRC \
             D7Y_DRAGONFLY_WORK_HOME D7Y_DRAGONFLY_PLUGIN_DIR D7Y_DRAGONFLY_CACHE_DIR \
             D7Y_DRAGONFLY_LOG_DIR D7Y_DRAGONFLY_DATA_DIR D7Y_DRAGONFLY_CONFIG_DIR; do \
      eval "[ -n \"\${$v:-}\" ]" || { echo "Dockerfile.builder: build arg $v is not set (d7y-build passes the container layout)" >&2; exit 1; }; \
    done; \
    # The cross toolchain from Debian's mirror; the line starting "d7y-build: no apt-get" is what
    # d7y-build recognises (src/session/image.ts) to name the fix.
    if [ -n "${D7Y_CROSS_PACKAGES:-}" ]; then \
      command -v apt-get >/dev/null 2>&1 || { echo "d7y-build: no apt-get in the Go image to install $D7Y_CROSS_PACKAGES" >&2; exit 1; }; \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $D7Y_CROSS_PACKAGES; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    echo "$D7Y_USER:x:$D7Y_UID:$D7Y_GID:d7y-build:$D7Y_HOME:/bin/sh" >> /etc/passwd; \
    echo "$D7Y_USER:x:$D7Y_GID:" >> /etc/group; \
    mkdir -p "$D7Y_GOMODCACHE" "$D7Y_GOCACHE" "$D7Y_HOST_CACHE" "$D7Y_PLUGIN_SOURCES" "$D7Y_OUT" "$D7Y_WORKSPACES"; \
    # Dragonfly's default directories (pkg/dfpath): its commands create them at start, as the
    # non-root build user too when validating.
    mkdir -p "$D7Y_DRAGONFLY_PLUGIN_DIR" "$D7Y_DRAGONFLY_CACHE_DIR" "$D7Y_DRAGONFLY_LOG_DIR" \
             "$D7Y_DRAGONFLY_DATA_DIR" "$D7Y_DRAGONFLY_CONFIG_DIR"; \
    # d7y-apicheck reads Go source for the check before compiling and for `init`. It is built as the
    # host is by default (CGO_ENABLED=1, -trimpath), into the build user's Go build cache: most of
    # the standard library packages it compiles are among those the host needs, and Docker copies
    # the image's cache into the empty cache volume a first build mounts there, so that build
    # compiles them only once. No symbol table (-s -w): nothing reads it, and linking is quicker. An
    # image without Go still builds: start-container then says the image has no working Go.
    if command -v go >/dev/null 2>&1; then \
      (cd "$D7Y_TOOLS/apicheck" && GOCACHE="$D7Y_GOCACHE" GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o "$D7Y_APICHECK" .); \
    fi; \
    # Everything the build user writes is its own, the Go build cache too: a cache volume seeded
    # from it must hold none of root's files.
    chown -R "$D7Y_UID:$D7Y_GID" "$D7Y_HOME" "$D7Y_WORK" "$D7Y_DRAGONFLY_WORK_HOME" "$D7Y_DRAGONFLY_CACHE_DIR" \
                                 "$D7Y_DRAGONFLY_LOG_DIR" "$D7Y_DRAGONFLY_DATA_DIR" "$D7Y_DRAGONFLY_CONFIG_DIR"; \
    # Credentials arrive at run time on a tmpfs (d7y-build --netrc, GIT_AUTH_TOKEN); go and git
    # read ~/.netrc.
    ln -s "$D7Y_SECRET_NETRC" "$D7Y_HOME/.netrc"

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
