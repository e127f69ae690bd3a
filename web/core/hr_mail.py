"""The HR services' monthly mail (``control.hr_mail``) over this application's stores: its
attendance table is the agency report's (``web.pages.reports.agency_table``), its classes'
words the pages' (``control.hr_mail.class_words``)."""

from __future__ import annotations

import functools

from aiohttp import web

from control.hr_mail import HrMailer, HrStores, class_words
from scheduler.sqlite_agencies import SqliteAgencies

from ..pages.reports import agency_table
from . import keys


def hr_mailer(app: web.Application) -> HrMailer:
    """The HR services' mail of ``app`` (the clock and the language are its settings')."""
    settings = app[keys.SETTINGS]
    stores = HrStores(
        app[keys.MAIL], app[keys.HR_DISPATCH], app[keys.ACCOUNTS], app[keys.TIMETABLE],
        SqliteAgencies(app[keys.DB], settings.clock),
    )  # fmt: skip
    return HrMailer(
        stores, app[keys.CATALOGUES], settings.default_language, settings.clock,
        functools.partial(agency_table, app), class_words,
    )  # fmt: skip
