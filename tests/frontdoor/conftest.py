"""The front door tests use the root fixtures (make_service, service)."""
