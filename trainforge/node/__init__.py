"""The node layer: the launcher that runs one attempt of a run on a node."""
