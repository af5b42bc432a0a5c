"""Match's entrypoints: thin REST routes, the live stream of hits and the bus consumers: each
parses, calls a handler and answers."""
