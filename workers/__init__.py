"""RQ job functions: thin shells that load settings, open a session and call the domain."""
