"""HTTP routes of the products slice."""

routes: list[type] = []
