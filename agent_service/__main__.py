"""`python -m agent_service`: serve alfagent.agent.v1.AgentService (the container command)."""

from agent_service.server import main

if __name__ == "__main__":
    main()
