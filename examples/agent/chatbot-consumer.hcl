# The consumer's Vault policy: read the current version of one key, nothing else (no metadata,
# no other version, no list). `gradient-keys vault policy` is the writer's; this is the reader's.
path "secret/data/gradient/prod/apps/chatbot" {
  capabilities = ["read"]
}
