"""hal9.selforg — self-organization: undifferentiated neurons → compatibility graph → emergent hierarchy.

Builds on :mod:`hal9.core` only. Public names are re-exported here as the modules land.
"""
