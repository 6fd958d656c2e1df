"""Blue/green deploys behind Caddy: the plan (pure), health checks, the router, the sequence."""
