"""`python -m agent_service`: serve AgentService (the container command); `eval` and `episode`
are command-line clients of a running agent (see `agent_service.cli`); `skills` makes and moves
skill libraries (see `agent_service.skills.cli`)."""

import sys

from agent_service.cli import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["skills"]:
        from agent_service.skills.cli import main as skills

        raise SystemExit(skills(sys.argv[2:]))
    raise SystemExit(main())
