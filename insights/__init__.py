"""Insights: what the community is saying, read from the queue's own tables.

Summaries, community health, knowledge gaps, spike alerts and digests. This package reads the queue's
tables (``desk``) and the knowledge store; it drafts nothing and holds no retrieval logic.
"""
