"""The rules of the domain, in plain Python: no framework, no driver, no clock of its own."""
