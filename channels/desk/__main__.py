"""`python -m channels.desk ...` (channels/desk/webhook.py)."""

import sys

from channels.desk.webhook import main

sys.exit(main())
