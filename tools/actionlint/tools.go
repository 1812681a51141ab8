//go:build tools

// Package tools pins actionlint, the GitHub Actions workflow linter that checks docs/ci/github, as a
// dependency of this wrapper module, so that `go build` resolves it and everything it imports with
// this module's go.sum: every module it downloads is checksum-checked. Built by scripts/tools.
package tools

import (
	_ "github.com/rhysd/actionlint/cmd/actionlint"
)
