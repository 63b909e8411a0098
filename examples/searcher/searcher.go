// searcher is a manager plugin: when d7y-manager-plugin-searcher.so is in the manager's plugin
// directory, it decides which scheduler clusters a peer is given. Upstream requires manager
// plugins to be named "searcher".
package main

import (
	"context"

	"d7y.io/dragonfly/v2/manager/models"
)

// Stamped by the build: -X main.buildCommit=... -X main.buildTime=...
var (
	buildCommit = "unknown"
	buildTime   = "unknown"
)

type searcher struct{}

// FindSchedulerClusters gives peers the last cluster only, to show the plugin is the one deciding.
func (s *searcher) FindSchedulerClusters(ctx context.Context, schedulerClusters []models.SchedulerCluster, ip, hostname string,
	conditions map[string]string) ([]models.SchedulerCluster, error) {
	if len(schedulerClusters) == 0 {
		return nil, nil
	}
	return schedulerClusters[len(schedulerClusters)-1:], nil
}

// DragonflyPluginInit is what Dragonfly calls after plugin.Open.
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &searcher{}, map[string]string{
		"type":        "manager",
		"name":        "searcher",
		"buildCommit": buildCommit,
		"buildTime":   buildTime,
	}, nil
}
