"""Errors of the scheduler."""


class SchedulerError(Exception):
    code = "scheduler_error"


class ClassNotFound(SchedulerError):
    code = "class_not_found"


class GroupNotFound(SchedulerError):
    code = "group_not_found"


class InvalidTransition(SchedulerError):
    code = "invalid_transition"
