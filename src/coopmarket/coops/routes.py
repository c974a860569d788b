"""HTTP routes of the coops slice."""

routes: list[type] = []
