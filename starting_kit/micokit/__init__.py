"""micokit: load a membership-inference competition's models and challenge points, attack, submit."""

__version__ = "0.1.0"
