"""The ground floor: settings and the few helpers every package shares; it imports nothing of ours."""
