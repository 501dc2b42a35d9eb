"""The one HTTP client of the REST API, and how it finds (or starts) the control plane."""
