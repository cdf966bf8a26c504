"""Print the configuration table of every service from its real Settings class.

`python -m devstack.configdoc` prints Markdown and `--write README.md` updates the README
(`make docs`); a test keeps the README's table in step with the code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

SETTINGS = (
    ("auth", "AUTH_", "auth_service.settings"),
    ("appointments", "APPOINTMENTS_", "appointments_service.settings"),
    ("calendar-google", "CALENDAR_GOOGLE_", "calendar_google.settings"),
    ("calendar-outlook", "CALENDAR_OUTLOOK_", "calendar_outlook.settings"),
    ("notifications", "NOTIFICATIONS_", "notifications_service.settings"),
    ("web", "WEB_", "web_service.settings"),
)
SECRET_HINTS = ("SECRET", "KEY", "PASSWORD", "TOKEN", "MONGODB_URI", "CLIENTS")


def _default(name: str, field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    value: Any = field.get_default(call_default_factory=True)
    if any(h in name for h in SECRET_HINTS) and value not in (None, "", {}, []):
        return "*(generated/secret)*"
    text = "—" if value is None else str(getattr(value, "value", value))
    return f"`{text}`" if text != "—" else text


def rows() -> list[tuple[str, str, str, str]]:
    out = []
    for service, prefix, module in SETTINGS:
        settings_cls = importlib.import_module(module).Settings
        for name, field in settings_cls.model_fields.items():
            env = prefix + name.upper()
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            out.append((service, env, _default(env, field), description))
    return out


def markdown() -> str:
    lines = ["| service | variable | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| {s} | `{e}` | {d} | {m} |" for s, e, d, m in rows()]
    return "\n".join(lines)


START, END = "<!-- configuration-table:start -->", "<!-- configuration-table:end -->"


def render_into(readme: str) -> str:
    """The README text with the table between its markers replaced by the current one."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(render_into(path.read_text()))
        return 0
    print(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
