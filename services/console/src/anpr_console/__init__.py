"""Schild console: the web page of the zone's staff, a client of the services' REST APIs."""
