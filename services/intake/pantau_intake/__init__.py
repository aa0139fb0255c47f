"""Pantau intake service."""
