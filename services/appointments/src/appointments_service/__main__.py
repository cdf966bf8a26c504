"""``python -m appointments_service``: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from appointments_service.bootstrap import create_app
from appointments_service.settings import Settings
from visitor_common.logging import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
