"""What the rollup tells the rest of the product.

`rollup_committed` is sent after a rollup chunk's transaction commits, with the organization
it folded (`organization_id`: every chunk folds one organization) and the number of events
folded. Receivers run outside the chunk's transaction, so one that fails or is
slow cannot roll back or hold up the aggregates; budgets evaluate spend there.
"""

from django.dispatch import Signal

rollup_committed = Signal()

# Sent after a transaction that changed stored costs outside the rollup (re-pricing) commits,
# with `organization_id`: budgets re-evaluate spend (and may send budget.recovered).
costs_changed = Signal()
