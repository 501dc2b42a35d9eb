"""The ``trainforge`` command line: server, workspaces and runs."""
