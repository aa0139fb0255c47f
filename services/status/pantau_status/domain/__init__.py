"""The pure core of the status service: codes, the public view, reports, limits, texts."""
