"""`python -m channels.telegram ...` (channels/telegram/webhook.py)."""

import sys

from channels.telegram.webhook import main

sys.exit(main())
