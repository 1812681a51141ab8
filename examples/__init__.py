"""Examples for the consumers of the keys gradient-keys manages: docs/consumers.md."""
