"""Errors that reach the user as one sentence (the CLI prints them without a traceback)."""


class DatasetError(ValueError):
    """A missing or malformed dataset, reported to the user as one sentence."""


class ConfigError(ValueError):
    """A config problem, reported to the user as one sentence."""


