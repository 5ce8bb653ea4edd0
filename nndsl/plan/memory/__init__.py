"""Plan stage, memory: a memory budget turned into recompute schedules and checkpoint segments.

`budget.plan_memory(spec, graph, context)` is the entry point (called by
`nndsl.plan.make_plan` only when the spec has a `memory:` section, so a spec without one never
imports this package). It reads the graph's feed-forward chains (`chains`, `block_chains`),
plans their checkpoint segments (`segments`: the memory model; `segment_search`: the cheapest
segmentation under a budget) and the recompute schedules of recurrent layers (`recompute`, with
the BPTT cost tables of `recompute_costs`, `recompute_mixed` and `recompute_rows`). Pure Python.
"""
