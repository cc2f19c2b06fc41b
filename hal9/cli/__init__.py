"""The ``hal9`` command line: ``version``, ``demo``, ``metrics``, ``organize``, ``tactical simulate``,
``serve``, ``worker`` (argument parsing and printing; the work is done by :mod:`hal9.experiments` and
:mod:`hal9.serve`).
"""
