"""Where requests and messages come in: the REST routes (http.py, handed their ports by deps.py)
and the consumer of anpr.audit.v1 (consumers.py). Each parses, calls a handler and answers."""
