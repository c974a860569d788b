"""HTTP routes of the ledger slice."""

routes: list[type] = []
