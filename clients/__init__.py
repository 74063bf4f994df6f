"""Clients of the omnilive server: the phone web page and a Python client/CLI."""
