"""The ``hal9`` command line: ``hal9 demo``, ``hal9 version``."""
