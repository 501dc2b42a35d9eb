"""Storage: artifact and snapshot stores and datastores, all on fsspec filesystems."""
