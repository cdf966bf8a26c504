"""Use cases: accounts and sign-in, linking, connections and the internal token API."""
