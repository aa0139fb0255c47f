"""Pantau tracker service."""
