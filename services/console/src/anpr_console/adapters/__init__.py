"""The console's I/O: the sealed cookies, the services' REST APIs, the identity provider."""
