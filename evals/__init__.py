"""Evaluation suites: quality on public datasets (never imported by agent/, knowledge/ or api/)."""
