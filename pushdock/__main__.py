"""`python -m pushdock`: what `pushdock up` starts its children with."""

from __future__ import annotations

import sys

from pushdock.cli import main

sys.exit(main())
