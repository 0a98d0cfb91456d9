"""Typed clients of the alfagent services, for the agent and for any other caller.

    from alfagent_clients.env import EnvClient
    from alfagent_clients.store import StoreClient

They hide the stubs and raise `alfagent_common.errors` exceptions instead of grpc ones (see
`errors.py`), so callers never import grpc to handle a failure. This package is what a client
needs of the services: it imports no server package (env_service, store_service), so the agent's
image carries neither, and a server's code can change without touching its callers.
"""
