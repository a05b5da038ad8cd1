"""EDMS archive service."""
