"""``python -m web_service``: serve the pages with uvicorn (exit status 2 on a bad configuration)."""

from __future__ import annotations

from visitor_common.runner import serve
from web_service.bootstrap import create_app
from web_service.settings import Settings


def main() -> None:
    serve(Settings, create_app)


if __name__ == "__main__":
    main()
