"""HyperDrive's rules, shared by the SDK (to validate early) and the control plane (to sweep).

Pure functions only: search spaces and how they are sampled, the early-termination
policies, and how sampled values become script arguments. No I/O, no server, no client.
"""
