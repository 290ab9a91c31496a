// Package departments holds the six department mapping files the hub ships with,
// embedded so that a hub started without GRIDHUB_CONFIG knows its departments.
package departments

import "embed"

// Files are the mapping files, *.yaml at the root.
//
//go:embed *.yaml
var Files embed.FS
