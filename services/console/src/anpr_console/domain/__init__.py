"""The console's rules, without I/O: which pages a role sees, the session, PKCE, languages."""
