"""Schild share: sharing agreements with neighbour zones, and the bridge that shares under them."""
