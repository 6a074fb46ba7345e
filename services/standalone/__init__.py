"""Standalone mode: the four services, NATS and the embedded defaults in one process."""
