"""Running triochat as a service: config file, live reload, logs, backups, metrics and health."""
