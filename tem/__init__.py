"""Tem: shared settings, database and app assembly."""
