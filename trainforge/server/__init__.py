"""The control plane: REST API, services, store and the scheduler loop."""
