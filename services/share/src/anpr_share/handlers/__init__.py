"""Share's handlers: one function per command and per event, their ports passed in."""
