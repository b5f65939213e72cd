"""Typed engine errors: each carries a one-line message fit for a command line or an HTTP response."""


class EngineError(Exception):
    """Base class: anything the engine refuses or cannot do."""


class ImageError(EngineError):
    """The input could not be turned into pixels safely."""


class EmptyImageError(ImageError):
    pass


class NotAnImageError(ImageError):
    pass


class CorruptImageError(ImageError):
    pass


class ImageTooLargeError(ImageError):
    pass


class NoFaceError(EngineError):
    """No usable face was found where one was required."""


class ModelError(EngineError):
    """A model file is missing, unreadable, or vectors of different models were mixed."""
