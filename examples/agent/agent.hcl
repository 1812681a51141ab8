# bao agent (or Vault Agent) for one consumer of the gradient-keys key `chatbot-prod`
# (stack config: mount `secret`, path_prefix `gradient/prod`, vault_path `apps/chatbot`).
# It logs in with AppRole, renders the key's `api_key` to a file only its owner can read, and
# renders it again every minute, so a rotation reaches the file within a minute. Why a minute:
# docs/consumers.md.
#
# Relative paths are relative to the agent's working directory: run it in a private directory
# (mode 0700; with systemd, RuntimeDirectory=gradient-keys and WorkingDirectory=/run/gradient-keys),
# where the consumer reads `chatbot.key`.
#
#   VAULT_ADDR=https://vault.example.com:8200 bao agent -config=agent.hcl

auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "role-id"
      secret_id_file_path = "secret-id" # removed once read (the default); the agent keeps it in memory
    }
  }
}

template_config {
  # KV v2 secrets have no lease: the agent reads them again on this schedule, and rewrites the
  # file only when the value changed. Vault Agent's default is 5m.
  static_secret_render_interval = "1m"
}

template {
  contents             = "{{ with secret \"secret/data/gradient/prod/apps/chatbot\" }}{{ .Data.data.api_key }}{{ end }}"
  destination          = "chatbot.key"
  perms                = "0600"
  error_on_missing_key = true # a version without `api_key` is an error, never an empty key file
}
