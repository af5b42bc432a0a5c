"""Access's entrypoints: thin HTTP routes, the bus consumers and the retention schedule."""
