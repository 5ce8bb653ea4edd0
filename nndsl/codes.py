"""The catalogue of diagnostic codes, one per kind of user error.

Codes are stable: tests keep one invalid spec per code (tests/errors/), and `--format json`
consumers may match on them. Numbering follows the pipeline stage that finds the problem:
E1xx source, E2xx resolve, E3xx spec, E4xx check, E5xx ir, E6xx plan.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # source: YAML text -> Document
    "E101": "YAML syntax error",
    "E102": "duplicate key",
    "E103": "document is not a mapping",
    "E104": "empty file",
    "E105": "YAML tag refused",
    "E106": "document too large after alias expansion",
    "E107": "file cannot be read",
    "E108": "more than one YAML document",
    "E109": "mapping key is not a string",
    # resolve: fragments, blocks, overrides
    "E201": "fragment not found",
    "E202": "fragments include each other in a cycle",
    "E203": "malformed --set override",
    "E204": "--set path cannot be applied",
    "E205": "malformed fragment",
    "E206": "unknown block",
    "E207": "unknown block parameter",
    "E208": "invalid repeat count",
    "E209": "template names an undefined parameter",
    "E210": "fragment is not a YAML file",
    "E211": "fragment lies outside the spec's folder",
    # spec: types, ranges, enums, unknown keys
    "E301": "unknown key",
    "E302": "missing required key",
    "E303": "wrong type",
    "E304": "value out of range",
    "E305": "unknown choice",
    "E306": "unknown layer type",
    "E307": "size or budget does not parse",
    "E308": "unsupported language version",
    "E309": "size is absurdly large",
    "E310": "unknown data source",
    "E311": "invalid value",
    "E312": "name is not a simple name",
    # check: cross-references
    "E401": "duplicate layer name",
    "E402": "input names no layer",
    "E403": "cut does not exist",
    "E404": "selector matches nothing",
    "E405": "phase trains nothing",
    "E406": "layer both trained and frozen in one phase",
    "E407": "monitored metric is never logged",
    "E408": "loss does not fit the data's targets",
    "E409": "metric does not fit the data's targets",
    "E460": "top-k accuracy with k not below the number of classes",
    "E461": "scheduler option the scheduler type does not read",
    "E462": "scheduler options that cannot be combined",
    "E463": "warmup as long as the schedule",
    "E464": "scheduler written twice",
    "E410": "ensemble setting out of range",
    "E411": "invalid cut definition",
    "E412": "data source problem",
    "E413": "duplicate phase name",
    "E414": "checkpoint does not fit",
    "E425": "option would have no effect here",
    "E475": "speech synthesiser not installed",
    "E476": "standardisation of inputs that are not numeric features",
    # ir: graph and shapes
    "E501": "graph has a cycle",
    "E502": "input shapes do not match",
    "E503": "layer arithmetic goes below 1",
    "E504": "layer cannot take this input",
    "E505": "output does not fit the loss",
    "E506": "graph is not connected to its output",
    "E507": "network is absurdly large",
    "E508": "sizes do not divide (attention heads, convolution groups, sine-cosine pairs)",
    # plan: cuts, budgets, tempering
    "E601": "cut does not separate the graph",
    "E602": "memory budget is below the smallest feasible one",
    "E603": "tempering rule is undefined on this graph",
    "E604": "memory budget has nothing to act on",
    "E605": "ensemble members cannot share this cut",
    "E610": "optimizer cannot honour the planned parameter groups",
    "E611": "optimizer cannot accumulate gradients",
}
