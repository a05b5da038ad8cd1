"""EDMS registry service."""
