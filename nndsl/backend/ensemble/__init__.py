"""Backend: ensembles of M members trained in one step (imports torch).

`members` runs the members together (vectorised when possible: `vectorised`, `linear`),
`network` puts them on the planned graph, `losses` holds the training losses and combiners,
`module` is the Lightning module that trains them and `data` gives each member its own
bootstrap sample (bagging).
"""
