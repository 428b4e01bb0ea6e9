"""Evaluation suites, scorers and runs (never imported by agent/, knowledge/ or api/)."""
