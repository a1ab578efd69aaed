"""Probes: one file per protocol, one registry line each (see ``interface.py``)."""
