"""Route modules of :mod:`hal9.serve`: auth, users, keys, runs (generated per job kind) and system."""
