"""Ray Data and Ray Tune pipelines: bag decoding, feature extraction, training and the model registry."""
