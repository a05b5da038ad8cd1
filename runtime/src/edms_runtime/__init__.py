"""Shared runtime plumbing of the EDMS services (one package, never copied per service)."""
