"""Access's adapters: every SQL statement of the service, the wire codecs, and image blurring (OpenCV)."""
