"""Adapters of the detect service to the outside world (OCR engines, codecs)."""
