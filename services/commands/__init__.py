"""CLI command modules, one per area; each registers on services.cli_groups."""
