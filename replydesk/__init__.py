"""Replydesk: a reply desk for community managers. Settings and the CLI live here."""
