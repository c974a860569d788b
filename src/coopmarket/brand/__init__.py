"""The regional brand's licensing use cases: they join the cooperatives' licence records (coops)
with the catalogue's products and certificates (products). Nothing imports this slice but the app."""
