"""Use cases: which mails an event asks for, and delivering each exactly once."""
