"""Errors with messages meant for the user: one line, naming the file and the problem."""


class S3potError(Exception):
    """Base class of every error s3pot raises on purpose."""


class ImageLoadError(S3potError):
    """An input could not be read as an image (missing, empty, truncated, not an image)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(S3potError):
    """A model file is missing, corrupt or not of the expected kind."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class VideoLoadError(S3potError):
    """A video clip could not be opened or decoded."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
