"""`pensionx` subcommands, one module per group; each adds its parsers with `add_commands`."""
