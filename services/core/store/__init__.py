"""The metadata store: records, the interface, and its implementations."""
