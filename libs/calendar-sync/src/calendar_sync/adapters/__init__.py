"""The engine's framework adapters: the FastAPI rooms / availability router and the FastStream
wiring (consumer registration, connection-events handler, dead-letter and raw sinks).
"""

from calendar_sync.adapters.kafka import broker_sinks, register_consumer
from calendar_sync.adapters.router import DirectoryCache, availability_router
from visitor_common.messaging import start_broker  # the one start of every service's broker

__all__ = [
    "DirectoryCache",
    "availability_router",
    "broker_sinks",
    "register_consumer",
    "start_broker",
]
