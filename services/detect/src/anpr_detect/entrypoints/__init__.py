"""Detect's entrypoints: the REST route, the bus consumers and the passage closer."""
