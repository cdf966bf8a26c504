"""The engine: applies snapshots to a provider (consumer, applied state, retries), watches for
drift (monitor), and reports every outcome (status publisher). Framework-free: it talks to the
broker and the web only through the small sinks and callables that ``adapters`` provide.
"""

from calendar_sync.engine.consumer import ConsumerStats, RedeliveryPolicy, SyncConsumer
from calendar_sync.engine.engine import ApplyResult, ProviderSession, SyncEngine, Target, TokenSource
from calendar_sync.engine.monitor import ChannelHooks, DriftMonitor, Notice
from calendar_sync.engine.ownership import MEMBERS_COLLECTION, OWNERS_COLLECTION, Ownership
from calendar_sync.engine.retry import RetryPolicy, call_with_retry
from calendar_sync.engine.state import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    EVENT_INDEX_COLLECTION,
    AppliedStateRepository,
    ConnectionSync,
    ConnectionSyncRepository,
    StaleWrite,
)
from calendar_sync.engine.status import StatusPublisher
from calendar_sync.engine.tokens import AuthTokenClient

__all__ = [
    "APPLIED_COLLECTION",
    "CONNECTIONS_COLLECTION",
    "EVENT_INDEX_COLLECTION",
    "MEMBERS_COLLECTION",
    "OWNERS_COLLECTION",
    "AppliedStateRepository",
    "ApplyResult",
    "AuthTokenClient",
    "ChannelHooks",
    "ConnectionSync",
    "ConnectionSyncRepository",
    "ConsumerStats",
    "DriftMonitor",
    "Notice",
    "Ownership",
    "ProviderSession",
    "RedeliveryPolicy",
    "RetryPolicy",
    "StaleWrite",
    "StatusPublisher",
    "SyncConsumer",
    "SyncEngine",
    "Target",
    "TokenSource",
    "call_with_retry",
]
