"""Fault drills: `tem serve` and `tem worker` under load while Redis, PostgreSQL or they themselves fail."""
