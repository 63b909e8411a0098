// humanfs is a resource plugin with its own go.mod and a third-party dependency: it serves a
// generated file whose size is given by the URL path, e.g. `dfget -u humanfs://any/2048`, and
// reports sizes the way people read them.
package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"d7y.io/dragonfly/v2/pkg/source"
)

// Stamped by the build: -X main.buildCommit=... -X main.buildTime=...
var (
	buildCommit = "unknown"
	buildTime   = "unknown"
)

var _ source.ResourceClient = (*client)(nil)

type client struct{}

func size(request *source.Request) (int64, error) {
	return strconv.ParseInt(strings.TrimPrefix(request.URL.Path, "/"), 10, 64)
}

func (c *client) GetContentLength(request *source.Request) (int64, error) {
	return size(request)
}

func (c *client) IsSupportRange(request *source.Request) (bool, error) {
	return false, nil
}

func (c *client) IsExpired(request *source.Request, info *source.ExpireInfo) (bool, error) {
	return false, nil
}

func (c *client) Download(request *source.Request) (*source.Response, error) {
	n, err := size(request)
	if err != nil {
		return nil, err
	}
	line := "humanfs: " + humanize.Bytes(uint64(n)) + "\n"
	return source.NewResponse(io.NopCloser(bytes.NewBufferString(line))), nil
}

func (c *client) GetLastModified(request *source.Request) (int64, error) {
	return 0, nil
}

// DragonflyPluginInit is what Dragonfly calls after plugin.Open.
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &client{}, map[string]string{
		"type":        "resource",
		"name":        "humanfs",
		"scheme":      "humanfs",
		"maxSize":     humanize.Bytes(1 << 40),
		"buildCommit": buildCommit,
		"buildTime":   buildTime,
	}, nil
}
