"""Share's entrypoints: REST routes and bus consumers."""
