"""The pure core shared by every service: contract models, the catalog and working time."""
