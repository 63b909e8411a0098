// d7yfs is a resource plugin in upstream's in-tree style: package main files with no go.mod,
// compiled inside the Dragonfly module. `dfget -u d7yfs://host/path` downloads through it.
package main

import (
	"bytes"
	"fmt"
	"io"

	"d7y.io/dragonfly/v2/pkg/source"
)

// Stamped by the build: -X main.buildCommit=... -X main.buildTime=...
var (
	buildCommit = "unknown"
	buildTime   = "unknown"
)

var _ source.ResourceClient = (*client)(nil)

type client struct{}

func content(request *source.Request) string {
	return fmt.Sprintf("hello from d7yfs: %s%s\n", request.URL.Host, request.URL.Path)
}

func (c *client) GetContentLength(request *source.Request) (int64, error) {
	return int64(len(content(request))), nil
}

func (c *client) IsSupportRange(request *source.Request) (bool, error) {
	return false, nil
}

func (c *client) IsExpired(request *source.Request, info *source.ExpireInfo) (bool, error) {
	return false, nil
}

func (c *client) Download(request *source.Request) (*source.Response, error) {
	return source.NewResponse(io.NopCloser(bytes.NewBufferString(content(request)))), nil
}

func (c *client) GetLastModified(request *source.Request) (int64, error) {
	return 0, nil
}

// DragonflyPluginInit is what Dragonfly calls after plugin.Open.
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &client{}, map[string]string{
		"type":        "resource",
		"name":        "d7yfs",
		"scheme":      "d7yfs",
		"buildCommit": buildCommit,
		"buildTime":   buildTime,
	}, nil
}
