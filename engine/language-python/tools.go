//go:build tools

// Package tools pins Pulumi's Python language host. Its module is never tagged, so it can only be
// required by pseudo-version, and the Go module proxy serves one: v3.0.0-20250806165243-bee5e4fa4815
// (the one Pulumi's own pulumi-docker-build built; its go.sum carries the same h1: hash as ours).
// That commit does not compile against pkg/sdk v3.274.1 (the host's interfaces changed), so it is
// built here against the pkg/sdk v3.192.0 it was written for. See docs/pulumi.md, "The engine".
package tools

import (
	_ "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
)
