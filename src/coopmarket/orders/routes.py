"""HTTP routes of the orders slice."""

routes: list[type] = []
