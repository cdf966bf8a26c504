"""Pure mail composition: what each kind of mail says (Japanese first, then English), the
.ics attached to it, and the MIME message — no I/O, no framework."""
