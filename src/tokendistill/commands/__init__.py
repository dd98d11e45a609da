"""CLI subcommands, one module each (see tokendistill.cli.COMMANDS)."""
