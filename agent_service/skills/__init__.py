"""Skill libraries: what the agent learns from stored trajectories (README.md here).

`extract` makes a library from trajectories, `retrieve` picks what fits a game, `executor` plays a
procedure step by step; `convert` is the edge to protobuf, `cli` the `skills` command. No grpc
in any of them but `cli`.
"""
