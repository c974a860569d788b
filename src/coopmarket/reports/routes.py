"""HTTP routes of the reports slice."""

routes: list[type] = []
