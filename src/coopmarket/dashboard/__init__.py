"""The staff dashboard (issue 8, with issue 9's campaign panel): one page of charts over the
collective-income report, brand licences, cooperatives awaiting decision and the contract clean-up.

It sits in the ``flows`` layer because it reads several slices (reports, brand, coops, villages)
that may not import each other; it adds no table and writes nothing."""
