"""Microsoft identity platform v2.0 and Graph v1.0 emulator.

``create_app(base_url)`` builds the FastAPI app; see ``provider_emulators.microsoft.app``.
"""

from provider_emulators.microsoft.app import create_app

__all__ = ["create_app"]
