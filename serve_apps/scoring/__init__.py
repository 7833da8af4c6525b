"""Model scoring: a Serve deployment of its own, fed by the live shards' features."""
