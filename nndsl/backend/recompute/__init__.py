"""Backend: recurrent layers back-propagated under a planned recompute schedule (imports torch).

`layer` holds the module and its autograd function; `direction` runs one direction of the layer
by the schedule the plan stage made.
"""
