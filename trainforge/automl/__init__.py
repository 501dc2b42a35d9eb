"""The AutoML engine: the SDK's names mapped to FLAML, FLAML's search over its learners'
spaces (the proposer the control plane keeps per AutoML run), and what one iteration
fits and logs. Like ``trainforge.hyperdrive`` it imports nothing else of trainforge, so the
control plane, the SDK facade and the iteration script share the same rules.
"""
