"""Use cases: one handler per action, talking to the outside only through the ports."""
