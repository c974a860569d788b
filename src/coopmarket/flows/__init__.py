"""Use cases that join slices: the only place where orders and payments meet.

``orders`` knows orders (checkout, the state machine, fulfilment, cancellation, refund requests);
``payments`` knows money and providers (payments, refunds, provider events, the ledger postings
of both). Neither imports the other. A use case that needs both lives here and calls each
through its public functions:

- ``payment``: start or resume paying an order, record money received offline, apply a
  provider's events (the webhook);
- ``refunds``: pay back a refund the orders slice approved;
- ``cancellation``: cancel an order's unshipped parts and pay back what was paid for them;
- ``routes``: the HTTP routes of these use cases.

Units of work: a flow joins the session it is given and never commits; when it calls a provider
it does so before touching that session (``db.require_no_transaction``), reading what it needs
on a read connection first.
"""
