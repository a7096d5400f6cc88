"""hashpivot's decision layer: LP, solver backends, plans, reports, studies and the CLI."""
