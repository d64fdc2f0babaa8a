"""Running the portal as a service (issue 19): health and readiness, Prometheus metrics."""
