"""The console's surfaces: its page and assets, sign-in and session, and the API pass-through."""
