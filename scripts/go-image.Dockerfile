# The Go image scripts/go-image.sh builds: Debian's Go 1.23 fetches the official release GO_VERSION.
# The build context holds only ca-certificates.crt, the CA bundle of the machine that builds it.
FROM d7y-build/debian:bookworm
ARG MIRROR
ARG GO_VERSION
RUN echo "deb $MIRROR bookworm-backports main" >/etc/apt/sources.list.d/backports.list \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev git ca-certificates make \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports golang-1.23-go \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Debian's Go fetches the exact official release through the module proxy, then steps aside.
# Module zips carry no file modes: the executables get theirs back, as `go` does when it switches
# toolchains.
RUN export GOPATH=/tmp/bootstrap GOFLAGS=-modcacherw \
 && /usr/lib/go-1.23/bin/go mod download \
      "golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-$(dpkg --print-architecture)" \
 && cp -a /tmp/bootstrap/pkg/mod/golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-$(dpkg --print-architecture) /usr/local/go \
 && chmod -R a+rX /usr/local/go \
 && chmod a+x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/* \
 && rm -rf /tmp/bootstrap \
 && DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq golang-1.23-go golang-1.23-src \
 && apt-get autoremove -y -qq \
 && /usr/local/go/bin/go version
ENV GOLANG_VERSION=${GO_VERSION} GOTOOLCHAIN=local GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
