"""Errors the daemon reports to its callers; the RPC and HTTP layers map them to statuses once."""


class GametapError(Exception):
    """Base class; str(e) is the message shown to the caller."""


class InvalidArgument(GametapError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(GametapError):
    pass


class FailedPrecondition(GametapError):
    pass


class Unavailable(GametapError):
    pass


class ResourceExhausted(GametapError):
    pass


class OutOfRange(GametapError):
    pass


class DataLoss(GametapError):
    pass


class Unauthenticated(GametapError):
    pass


class PermissionDenied(GametapError):
    pass
