"""Use cases: short functions that run inside a unit of work."""
