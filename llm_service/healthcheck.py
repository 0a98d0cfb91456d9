"""`python -m llm_service.healthcheck [host:port]`: exit 0 when llama-server's `GET /health` is 200.

llama-server answers 503 while it loads the model and 200 once it can serve, so this is the
container's health check and what `make up` waits for. The address defaults to
`localhost:$LLM_PORT` (8080).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def healthy(address: str, timeout_seconds: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/health", timeout=timeout_seconds) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    address = args[0] if args else f"localhost:{os.environ.get('LLM_PORT') or 8080}"
    return 0 if healthy(address) else 1


if __name__ == "__main__":
    sys.exit(main())
