"""The HTML pages, one module per area: sign-in, home, classes (the class page, its join token
and recordings), attendance (a class's register, its live view and exports), timetable, groups
(and member import), guests and invites, excuses, admission, programmes, reports, health,
practice, API keys and webhooks, iCalendar feeds. Stands on ``web.core``; never imports
``web.api``."""
