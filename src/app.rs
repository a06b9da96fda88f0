//! The `run` command: wires sources, the classifier, the registry and the exporter together.
