"""Chat with the running assistant from a terminal: `make chat` (the server must be up).

Uses Rasa's own console client against our REST channel; type /stop to leave.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from rasa.core.channels.console import record_messages


def main() -> None:
    server = os.environ.get("RETORNO_SERVER_URL", "http://localhost:5005")
    asyncio.run(
        record_messages(sender_id=f"console-{uuid.uuid4().hex[:8]}", server_url=server,
                        use_response_stream=False)
    )


if __name__ == "__main__":
    main()
