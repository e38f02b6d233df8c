"""Publishing a competition from a finished store: the participant and reference exports, the
calibration report, the platform files (CodaLab's and Codabench's ``competition.yaml``), the pages, the bundle zips and the checks that they upload and score as the
platforms' own code would.

The top layer: it reads the spec and the store; nothing in ``spec`` or ``build`` imports it.
"""
