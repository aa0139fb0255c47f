"""Pantau alerts service."""
