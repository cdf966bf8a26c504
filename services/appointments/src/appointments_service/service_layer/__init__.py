"""Use cases: they orchestrate the domain rules, the repository and the outside services."""
