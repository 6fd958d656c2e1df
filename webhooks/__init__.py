"""The web service: forge webhook endpoints, the status pages, and the CLI that wires it all."""
