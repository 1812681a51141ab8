"""The Vault-in-production-shape tier: an OpenBao HA cluster (issue 17)."""
