"""The pure core of the sync engine: the sync model, the planner, drift comparison, deterministic
ids, the error taxonomy and its one HTTP classification, and the provider port.

Nothing here does I/O or imports a framework (import-linter checks it): every function is
tested in milliseconds without a broker, a store or a network.
"""

from calendar_sync.core.classify import classify_http, parse_retry_after
from calendar_sync.core.drift import DriftPolicy, detect_drift, entry_differences
from calendar_sync.core.errors import (
    AccessTokenRejected,
    AuthServiceUnavailable,
    ConnectionInactive,
    EventAlreadyExists,
    EventNotFound,
    InvalidSnapshot,
    PermissionMissing,
    ProviderError,
    ProviderRejected,
    ReauthRequired,
    SyncCursorInvalid,
    TokenError,
    TransientProviderError,
)
from calendar_sync.core.ids import google_event_id, is_base32hex_id, transaction_id
from calendar_sync.core.model import (
    AppliedEntry,
    AppliedState,
    BusyInterval,
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    CreateOp,
    DeleteOp,
    EntryKind,
    EventMeta,
    ProviderAccess,
    ProviderEvent,
    PushChannel,
    RoomResponse,
    SettleOp,
    SyncPlan,
    UnsettledCreate,
    UpdateOp,
)
from calendar_sync.core.planner import desired_entries, entry_key, plan
from calendar_sync.core.provider import CalendarProvider, SupportsPush

__all__ = [
    "AccessTokenRejected",
    "AppliedEntry",
    "AppliedState",
    "AuthServiceUnavailable",
    "BusyInterval",
    "CalendarBusy",
    "CalendarEntry",
    "CalendarProvider",
    "ChangePage",
    "ConnectionInactive",
    "CreateOp",
    "DeleteOp",
    "DriftPolicy",
    "EntryKind",
    "EventAlreadyExists",
    "EventMeta",
    "EventNotFound",
    "InvalidSnapshot",
    "PermissionMissing",
    "ProviderAccess",
    "ProviderError",
    "ProviderEvent",
    "ProviderRejected",
    "PushChannel",
    "ReauthRequired",
    "RoomResponse",
    "SettleOp",
    "SupportsPush",
    "SyncCursorInvalid",
    "SyncPlan",
    "TokenError",
    "TransientProviderError",
    "UnsettledCreate",
    "UpdateOp",
    "classify_http",
    "desired_entries",
    "detect_drift",
    "entry_differences",
    "entry_key",
    "google_event_id",
    "is_base32hex_id",
    "parse_retry_after",
    "plan",
    "transaction_id",
]
