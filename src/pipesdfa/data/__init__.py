"""Event data: readers for the official formats, event -> frame binning, datasets, caching."""
