"""The emulator's shared objects, handed to every router."""

from __future__ import annotations

from dataclasses import dataclass, field

from provider_emulators.core.control import CallLog, RequestCounter, bearer_token
from provider_emulators.core.faults import FaultInjector, Scope
from provider_emulators.google.keys import SigningKey
from provider_emulators.google.push import PushNotifier
from provider_emulators.google.state import GoogleState
from provider_emulators.google.tokens import TokenService


@dataclass
class GoogleEmulator:
    base_url: str
    issuer: str
    state: GoogleState = field(default_factory=GoogleState)
    key: SigningKey = field(default_factory=SigningKey)
    faults: FaultInjector = field(default_factory=FaultInjector)
    counter: RequestCounter = field(default_factory=RequestCounter)
    calls: CallLog = field(default_factory=CallLog)
    notifier: PushNotifier = field(default_factory=PushNotifier)
    tokens: TokenService = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenService(self.state, self.key, self.issuer)

    def account_of(self, scope: Scope) -> str | None:
        """The e-mail of the account whose access token the request carries (for the call log)."""
        token = bearer_token(scope)
        access = self.state.access_tokens.get(token) if token else None
        return access.email if access is not None else None
