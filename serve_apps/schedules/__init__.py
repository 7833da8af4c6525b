"""The schedule optimizer as a Ray Serve deployment of its own (CPU-bound: it must not starve the API)."""
