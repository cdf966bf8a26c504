"""Pure view logic: time zones and formatting, the slot form, the refusal texts, the .ics file."""
