"""Errors of the access layer; views turn them into responses once."""


class AccessError(Exception):
    """Base of every access error. ``code`` is stable and machine-readable."""

    code = "access_error"


class TokenInvalid(AccessError):
    code = "token_invalid"


class TokenExpired(TokenInvalid):
    code = "token_expired"


class TokenWrongClass(TokenInvalid):
    code = "token_wrong_class"


class UserNotFound(AccessError):
    code = "user_not_found"


class LoginTaken(AccessError):
    code = "login_taken"
