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


class DisciplineNotNamed(AdmissionError, ValueError):
    """A midterm control or an exam of a programme with disciplines names none of them:
    admission to it is decided per discipline."""

    code = "discipline_not_named"

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names  # the programme's disciplines, one of which it must name
        super().__init__(
            "A midterm control or an exam names one of the programme's disciplines: "
            + ", ".join(names)
        )
