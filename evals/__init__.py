"""Eval suites, scorers, judges, runs, reports. Only the CLI imports this package (the API reads stored
runs through ``desk``)."""
