// evaluator is a scheduler plugin: it replaces the scheduler's parent ranking when the scheduler
// runs with `--algorithm plugin`. Upstream requires scheduler plugins to be named "evaluator".
package main

import (
	"sort"

	resource "d7y.io/dragonfly/v2/scheduler/resource/standard"
)

// Stamped by the build: -X main.buildCommit=... -X main.buildTime=...
var (
	buildCommit = "unknown"
	buildTime   = "unknown"
)

type evaluator struct{}

// EvaluateParents prefers parents in reverse ID order, to show the plugin is the one deciding.
func (e *evaluator) EvaluateParents(parents []*resource.Peer, child *resource.Peer, taskPieceCount int32) []*resource.Peer {
	sorted := append([]*resource.Peer(nil), parents...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID > sorted[j].ID })
	return sorted
}

func (e *evaluator) IsBadNode(peer *resource.Peer) bool {
	return false
}

// DragonflyPluginInit is what Dragonfly calls after plugin.Open.
func DragonflyPluginInit(option map[string]string) (any, map[string]string, error) {
	return &evaluator{}, map[string]string{
		"type":        "scheduler",
		"name":        "evaluator",
		"buildCommit": buildCommit,
		"buildTime":   buildTime,
	}, nil
}
