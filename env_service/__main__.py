"""`python -m env_service`: serve alfagent.env.v1.EnvService (the container command)."""

from env_service.server import main

if __name__ == "__main__":
    main()
