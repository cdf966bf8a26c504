"""Notifications service: mails guests and hosts about their visits over SMTP."""
