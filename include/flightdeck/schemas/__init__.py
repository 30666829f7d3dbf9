"""Pydantic models: the single definition of every record's shape and rules."""
