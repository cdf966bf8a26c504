"""Web front: the guest's scheduling page, the calendar-linking pages and the host console.

Server-rendered (Jinja2), usable without JavaScript; an API client of auth, appointments and the
calendar connectors (it owns no data of its own).
"""
