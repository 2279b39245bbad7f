"""Running what was built: closures, environments, config, services."""
