"""Identity on the wire: a server interceptor that admits callers by token and role, the server's TLS
credentials, and channels that present TLS and a token to the services they call.

The decisions are `identity.py`'s and `security.py`'s; this module only applies them to gRPC. A
refused call gets UNAUTHENTICATED (no token, or one no caller holds) or PERMISSION_DENIED (a caller
without the method's role), with a message saying what is missing, never the token.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc

from alfagent_common.identity import DEV_CALLER, Caller, bearer_token, role_for
from alfagent_common.security import Security

# The caller of the call being served (DEV_CALLER when no tokens are configured).
current_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller", default=DEV_CALLER)

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Behaviour = Callable[..., Any]


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    return {key: value for key, value in (details.invocation_metadata or ()) if isinstance(value, str)}


def _rebuilt(handler: Handler, wrap: Callable[[Behaviour, bool], Behaviour]) -> Handler:
    """`handler` with its behaviour wrapped (the flag: whether it streams its responses)."""
    common = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary, False), **common)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream, True), **common)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary, False), **common)
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream, True), **common)


def _refusing(handler: Handler, code: grpc.StatusCode, message: str) -> Handler:
    def wrap(_: Behaviour, streams: bool) -> Behaviour:
        if streams:

            async def refuse_stream(request: Any, context: Context) -> Any:
                await context.abort(code, message)
                yield  # pragma: no cover  # makes this an async generator, as a streaming handler is

            return refuse_stream

        async def refuse(request: Any, context: Context) -> Any:
            await context.abort(code, message)

        return refuse

    return _rebuilt(handler, wrap)


def _as(caller: Caller, handler: Handler) -> Handler:
    """`handler`, run with `current_caller` set to `caller`."""

    def wrap(behaviour: Behaviour, streams: bool) -> Behaviour:
        if streams:

            async def stream(request: Any, context: Context) -> Any:
                token = current_caller.set(caller)
                try:
                    async for response in behaviour(request, context):
                        yield response
                finally:
                    current_caller.reset(token)

            return stream

        async def unary(request: Any, context: Context) -> Any:
            token = current_caller.set(caller)
            try:
                return await behaviour(request, context)
            finally:
                current_caller.reset(token)

        return unary

    return _rebuilt(handler, wrap)


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # grpc-stubs: generic in name only
    def __init__(self, security: Security) -> None:
        self._tokens = security.tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        role = role_for(details.method)
        if handler is None or role is None or self._tokens is None:
            return handler
        token = bearer_token(_metadata(details).get("authorization", ""))
        if not token:
            return _refusing(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                "this service needs a token: send the metadata `authorization: Bearer TOKEN` "
                "(--token or ALFAGENT_TOKEN for the project's clients)",
            )
        caller = self._tokens.caller(token)
        if caller is None:
            return _refusing(
                handler, grpc.StatusCode.UNAUTHENTICATED, "the token is not one this service knows"
            )
        if not caller.may(role):
            held = ",".join(sorted(caller.roles)) or "none"
            return _refusing(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"caller {caller.name} (roles {held}) may not call {details.method}: "
                f"it needs the role {role}",
            )
        return _as(caller, handler)


def server_credentials(security: Security) -> grpc.ServerCredentials | None:
    if not security.tls:
        return None
    return grpc.ssl_server_credentials(
        [(security.tls_key, security.tls_cert)],
        root_certificates=security.tls_ca or None,
        require_client_auth=security.client_auth,
    )


class _TokenMetadata(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]  # grpc-stubs: generic in name only
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]  # (the same)
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[type-arg]  # (the same)
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[type-arg]  # (the same)
):
    """Adds `authorization: Bearer TOKEN` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*metadata),
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._with_token(details), requests)

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._with_token(details), requests)


def channel(address: str, security: Security, options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """A channel to another service: TLS when a CA is configured (verifying the server against it,
    and presenting this service's certificate when it has one), and its token when it has one."""
    interceptors: Any = [_TokenMetadata(security.token)] if security.token else None
    if security.tls_ca:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=security.tls_ca,
            private_key=security.tls_key or None,
            certificate_chain=security.tls_cert or None,
        )
        return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)


class _SyncTokenMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[type-arg]  # grpc-stubs: generic in name only
    """The blocking API's version of `_TokenMetadata`, for the command-line clients."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        return _CallDetails(
            details.method,
            details.timeout,
            [*(details.metadata or ()), self._header],
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(
        self,
        method: str,
        timeout: float | None,
        metadata: Any,
        credentials: Any,
        wait_for_ready: bool | None,
        compression: Any,
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def sync_channel(address: str, security: Security, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """`channel`, for the blocking API (the command-line clients)."""
    if security.tls_ca:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=security.tls_ca,
            private_key=security.tls_key or None,
            certificate_chain=security.tls_cert or None,
        )
        base = grpc.secure_channel(address, credentials, options=options)
    else:
        base = grpc.insecure_channel(address, options=options)
    return grpc.intercept_channel(base, _SyncTokenMetadata(security.token)) if security.token else base


def client_security(token: str = "", ca_path: str = "") -> Security:
    """What a command-line client presents: `--token` (or ALFAGENT_TOKEN), `--ca` (or
    ALFAGENT_TLS_CA), and its own certificate where ALFAGENT_TLS_CERT/KEY name one (mTLS)."""
    environ = dict(os.environ)
    if token:
        environ["ALFAGENT_TOKEN"] = token
    if ca_path:
        environ["ALFAGENT_TLS_CA"] = ca_path
    keep = ("ALFAGENT_TOKEN", "ALFAGENT_TLS_CA", "ALFAGENT_TLS_CERT", "ALFAGENT_TLS_KEY")
    return Security.from_environ({name: environ[name] for name in keep if name in environ})


def refusal_hint(code: grpc.StatusCode) -> str:
    """What a client should say besides the service's own message when a call was refused."""
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return "this service wants a token: pass --token TOKEN or set ALFAGENT_TOKEN"
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return "the token's caller lacks the role this call needs (see SECURITY.md)"
    if code is grpc.StatusCode.UNAVAILABLE:
        return "if the service serves TLS, pass --ca CA.pem or set ALFAGENT_TLS_CA"
    return ""
