"""The ``replydesk`` command line: the top layer, which may import every package below it."""
