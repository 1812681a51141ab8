//go:build tools

// Package tools pins the Pulumi CLI (the engine) as a dependency of this wrapper module, so that
// `go build` resolves it with this module's go.sum: every module it downloads is checksum-checked.
// pkg/v3 cannot be `go install`ed directly (its go.mod has replace directives); its one non-local
// replace is copied into go.mod. See docs/pulumi.md, "The engine".
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
