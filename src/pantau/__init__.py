"""Pantau: live oversight of public-service cases against their service standards."""
