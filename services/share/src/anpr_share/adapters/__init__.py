"""Share's adapters: its tables and every SQL statement, the wire codecs, the exchange."""
