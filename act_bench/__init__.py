"""act-bench: Consistency Training vs Adversarial Consistency Training, one shared core."""

__version__ = '0.1.0'
