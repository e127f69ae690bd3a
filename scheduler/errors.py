"""Errors of the scheduler."""


class SchedulerError(Exception):
    code = "scheduler_error"


class ClassNotFound(SchedulerError):
    code = "class_not_found"


class GroupNotFound(SchedulerError):
    code = "group_not_found"


class NotInClass(SchedulerError):
    """The person is neither a teacher nor a learner of the class."""

    code = "not_in_class"


class InvalidTransition(SchedulerError):
    code = "invalid_transition"
