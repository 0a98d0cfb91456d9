"""`python -m env_service`: serve alfagent.env.v1.EnvService (the container command)."""

import os

# Before grpc is imported, which reads it. gRPC's fork handlers, on by default, made about half
# of the planner's forked copies (runtime.run_forked) die of SIGSEGV before running a line when
# the games play in this process (ENV_WORKERS=0) while gRPC threads were busy; the copies never
# use gRPC, so they need none of its handling. A user's own setting wins.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from env_service.server import main

if __name__ == "__main__":
    main()
