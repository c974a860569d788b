"""HTTP routes of the payments slice."""

routes: list[type] = []
