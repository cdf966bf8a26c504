"""What a person does in the browser: sign in, press buttons at the providers, take screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

ACCEPT = ("許可", "承諾")
TIMEOUT_MS = 30_000


class Person:
    """One browser context (its own cookies) and one page."""

    def __init__(self, browser: Any, web: str, shots: Path, who: str) -> None:
        # The emulators' CA is not in Chromium's store; a person would have clicked through a
        # warning for a local self-signed server, this context simply trusts it.
        self.context = browser.new_context(
            ignore_https_errors=True, locale="ja-JP", viewport={"width": 1100, "height": 900}
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.web = web
        self.shots = shots
        self.who = who

    def close(self) -> None:
        self.context.close()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.who}-{name}.png"), full_page=True)

    def open(self, path: str) -> Any:
        return self.page.goto(path if path.startswith("http") else self.web + path)

    def sign_in(self, tenant: str, email: str, password: str) -> None:
        self.open("/host/sign-in")
        self.shot("sign-in")
        self.page.get_by_label("テナント ID").fill(tenant)
        self.page.get_by_label("メールアドレス").fill(email)
        self.page.get_by_label("パスワード").fill(password)
        self.page.locator("#sign-in").click()
        expect(self.page.locator("#link-google")).to_be_visible()
        self.shot("console")

    def through_provider(self, account: str, name: str) -> None:
        """At the provider's pages: choose ``account`` when asked, press 許可 / 承諾, until the
        browser is back at the web pages."""
        for step in range(8):
            self.page.wait_for_load_state()
            if self.page.url.startswith(self.web):
                return
            self.shot(f"{name}-provider-{step}")
            chooser = self.page.locator(f'button[value="{account}"]')
            if chooser.count():
                chooser.first.click()
                continue
            for label in ACCEPT:
                accept = self.page.get_by_role("button", name=label)
                if accept.count():
                    accept.first.click()
                    break
            else:
                raise AssertionError(f"no account button or 許可/承諾 at {self.page.url}")
        raise AssertionError("the provider did not send the browser back")

    def link(self, provider: str, account: str) -> None:
        """Press the calendar-link button and go through the provider's pages."""
        self.open("/host")
        self.page.locator(f"#link-{provider}").click()
        self.through_provider(account, f"link-{provider}")
