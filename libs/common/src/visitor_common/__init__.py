"""Shared contracts and infrastructure of the visitor-scheduling services.

Everything here is used by at least two services. Services meet only through what this package
defines: event models (:mod:`visitor_common.events`), topic names (:mod:`visitor_common.topics`)
and HTTP contracts (:mod:`visitor_common.contracts`). This package imports no service.
"""
