"""``python -m notifications_service``: serve with uvicorn (exit status 2 on a bad configuration)."""

from __future__ import annotations

from notifications_service.bootstrap import create_app
from notifications_service.settings import Settings
from visitor_common.runner import serve


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
