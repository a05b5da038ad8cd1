"""EDMS search service."""
