"""Process trees identified by pid and start time: see ``trainforge.processes``."""

from trainforge.processes import find, kill_tree

__all__ = ["find", "kill_tree"]
