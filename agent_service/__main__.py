"""`python -m agent_service`: serve AgentService (the container command); `eval` and `episode`
are command-line clients of a running agent (see `agent_service.cli`)."""

from agent_service.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
