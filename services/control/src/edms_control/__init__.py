"""EDMS control service."""
