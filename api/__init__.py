"""HTTP API, the approval queue, workers, delivery, auth and audit."""
