"""Programmes, groups, members, teachers and the timetable of classes."""
