"""The queue's domain and persistence: every table, the engine and sessions, one migration history, and the
transitions (submit, claim, edit, approve, reject, regenerate, bulk), jobs, worker, relay, audit, signing,
priority, workspaces and keys. It imports no web framework: the API, the CLI and connectors all call it."""
