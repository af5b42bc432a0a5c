"""Synthetic plates, scenes and the detector's training data: offline tools the service never imports."""
