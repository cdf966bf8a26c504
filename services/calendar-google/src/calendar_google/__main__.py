"""``python -m calendar_google``: serve the connector with uvicorn (exit status 2 on a bad configuration)."""

from __future__ import annotations

from calendar_google.bootstrap import create_app
from calendar_google.settings import Settings
from visitor_common.runner import serve


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
