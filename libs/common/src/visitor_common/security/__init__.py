from visitor_common.security.jwt import (
    JwksSource,
    JwtVerifier,
    Principal,
    PrincipalKind,
    TokenInvalid,
)

__all__ = ["JwksSource", "JwtVerifier", "Principal", "PrincipalKind", "TokenInvalid"]
