"""Running the server as a service: metrics, health checks and their HTTP endpoint."""
