"""Exceptions of the model layer.

ModelError                 anything a backend reports
├── ModelLoadError         weights or packages are missing or broken at load time
└── UnsupportedError       the backend cannot do what was asked (language, pair, ...)
"""


class ModelError(Exception):
    """A backend failed; `code` is a short machine-readable reason."""

    def __init__(self, message: str, *, code: str = "model_error") -> None:
        super().__init__(message)
        self.code = code


class ModelLoadError(ModelError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="model_load_failed")


class UnsupportedError(ModelError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsupported")
