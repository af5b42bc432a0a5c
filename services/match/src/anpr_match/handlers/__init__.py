"""Match's handlers: one named function per command and per event, its ports passed in."""
