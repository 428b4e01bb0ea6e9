"""The LangGraph agent: triage, retrieval, drafting, self-checks and the human review step."""
