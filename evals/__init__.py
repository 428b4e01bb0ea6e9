"""Eval suites, scorers, judges, runs, reports. Nothing outside ``evals/`` imports this package."""
