"""Errors of admission; views turn them into responses once."""


class AdmissionError(Exception):
    code = "admission_error"


class RequestNotFound(AdmissionError):
    code = "request_not_found"


class NotTheDirector(AdmissionError):
    """Only the director of the group's institute decides a learner's request."""

    code = "not_the_director"


class AlreadyDecided(AdmissionError):
    code = "already_decided"


class NotApproved(AdmissionError):
    """Make-up classes are planned only on an approved request."""

    code = "not_approved"
