"""The command line and the all-in-one `pushdock up`: the composition root above webhooks/,
workers/ and pipeline/."""
