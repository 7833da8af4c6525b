"""Ray Serve applications: the REST API, model scoring and the schedule optimizer."""
