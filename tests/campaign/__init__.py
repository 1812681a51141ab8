"""The fault campaign (issue 12): random kills, DigitalOcean and Vault faults and concurrent rotators
against the real sandbox emulator, a real OpenBao, the `gradient-keys` command as a subprocess and
the provider over gRPC, with invariants checked from outside the tool. See docs/reliability.md."""
