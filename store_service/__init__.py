"""alfagent's trajectory store: a durable, append-only JSONL log served over gRPC.

Core (no grpc): `log.TrajectoryLog` (segments, group commit, recovery), `index.Index`,
`records` (proto <-> JSON line). Edge: `servicer`, `server`, `client`, `export`.
"""
