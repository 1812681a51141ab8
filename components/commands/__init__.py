"""The `gradient-keys` subcommands, one module each.

Each module has `add(commands)`, which declares its subcommand's arguments, and the handlers that
`components.cli.main` calls. They are front ends: they read `os.environ`, build the clients
(`ClientFactory`) and hand them to the core.
"""
