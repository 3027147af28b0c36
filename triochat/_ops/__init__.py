"""Running triochat as a service: config file, live reload, structured logs, backups."""
