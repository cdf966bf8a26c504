"""``python -m calendar_outlook``: serve the connector with uvicorn."""

from __future__ import annotations

import uvicorn

from calendar_outlook.bootstrap import create_app_from_env
from calendar_outlook.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(create_app_from_env(), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
