"""`python -m nb2svc.triggers hook|webhook ...` (used by the installed post-receive hook)."""

import sys

from nb2svc.triggers.commands import main

sys.exit(main())
