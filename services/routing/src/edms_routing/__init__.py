"""EDMS routing service."""
