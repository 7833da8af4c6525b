"""Ray actors holding the fleet's live state: fleet shards and the MQTT, Kafka and cloud ingestors."""
