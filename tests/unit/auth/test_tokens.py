"""The token verifiers: static tokens, HS256-signed tokens with expiry, chaining, and Bearer headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from pysoa_like.auth import (
    ChainedVerifier,
    Identity,
    InvalidTokenError,
    SignedTokenVerifier,
    StaticTokenVerifier,
    bearer_token,
    build_verifier,
    make_signed_token,
    token_digest,
)

KEY = "k" * 40
OTHER_KEY = "o" * 40
REPORTS_TOKEN = "reports-token-0123456789"


def _part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_static_token_gives_its_subject_and_scopes() -> None:
    """A listed token (plain or as its digest) gives the identity of its subject; others give None."""
    verifier = StaticTokenVerifier(
        {
            "reports": REPORTS_TOKEN,
            "billing": {"token": token_digest("billing-token-0123456789"), "scopes": ["orders:read"]},
        }
    )
    assert verifier(REPORTS_TOKEN) == Identity("reports", (), None, "static")
    billing = verifier("billing-token-0123456789")
    assert billing is not None and billing.subject == "billing" and billing.scopes == frozenset({"orders:read"})
    assert verifier("someone-elses-token-123") is None


def test_a_subject_may_have_several_static_tokens_for_rotation() -> None:
    """A list of tokens for one subject: each is accepted for that subject."""
    verifier = StaticTokenVerifier({"reports": [REPORTS_TOKEN, {"token": "next-reports-token-98765"}]})
    assert [verifier(t).subject for t in (REPORTS_TOKEN, "next-reports-token-98765")] == ["reports", "reports"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ({"reports": "short"}, "shorter than 16 characters"),
        ({"reports": "sha256:abc"}, "64 hex digits"),
        ({"reports": 12345}, "must be a string"),
        ({"a": REPORTS_TOKEN, "b": token_digest(REPORTS_TOKEN)}, "listed for both 'a' and 'b'"),
    ],
)
def test_bad_static_token_settings_fail_at_startup(tokens: dict[str, object], message: str) -> None:
    """Short tokens, malformed digests, non-strings and one token for two subjects are refused with a message."""
    with pytest.raises(ValueError, match=message):
        StaticTokenVerifier(tokens)


def test_a_signed_token_gives_its_claims() -> None:
    """A token made by make_signed_token is accepted: subject, scopes, expiry and the other claims."""
    token = make_signed_token(KEY, "gateway", 60, scopes=["orders:read", "orders:write"], claims={"tenant": "eu"})
    identity = SignedTokenVerifier({"main": KEY})(token)
    assert identity is not None
    assert identity.subject == "gateway"
    assert identity.scopes == frozenset({"orders:read", "orders:write"})
    assert identity.method == "signed"
    assert identity.claims["tenant"] == "eu"
    assert identity.expires_at is not None and time.time() < identity.expires_at <= time.time() + 61


def test_the_key_id_picks_the_key_when_there_are_several() -> None:
    """With two keys, tokens name theirs (kid); a token without kid or naming an unknown key is refused."""
    verifier = SignedTokenVerifier({"old": OTHER_KEY, "new": KEY})
    assert verifier(make_signed_token(KEY, "a", 60, key_id="new")).subject == "a"  # type: ignore[union-attr]
    assert verifier(make_signed_token(OTHER_KEY, "b", 60, key_id="old")).subject == "b"  # type: ignore[union-attr]
    with pytest.raises(InvalidTokenError, match="no key id"):
        verifier(make_signed_token(KEY, "a", 60))
    with pytest.raises(InvalidTokenError, match="unknown key id 'gone'"):
        verifier(make_signed_token(KEY, "a", 60, key_id="gone"))


def test_a_token_signed_with_another_key_or_altered_is_refused() -> None:
    """A wrong key, or claims changed after signing, give 'bad signature'."""
    verifier = SignedTokenVerifier({"main": KEY})
    with pytest.raises(InvalidTokenError, match="bad signature"):
        verifier(make_signed_token(OTHER_KEY, "a", 60))
    header, _, signature = make_signed_token(KEY, "a", 60).split(".")
    forged = f"{header}.{_part({'sub': 'admin', 'exp': int(time.time()) + 60, 'scope': '*'})}.{signature}"
    with pytest.raises(InvalidTokenError, match="bad signature"):
        verifier(forged)


def test_an_expired_token_is_refused_after_the_leeway() -> None:
    """exp in the past by more than the leeway is refused; within the leeway it passes."""
    verifier = SignedTokenVerifier({"main": KEY}, leeway_seconds=10)
    issued = time.time() - 100
    with pytest.raises(InvalidTokenError, match=r"expired 4\d seconds ago"):
        verifier(make_signed_token(KEY, "a", 55, now=issued))
    assert verifier(make_signed_token(KEY, "a", 95, now=issued)) is not None


def test_algorithms_other_than_hs256_are_refused() -> None:
    """alg none (unsigned) or any other algorithm is refused before the signature is looked at."""
    verifier = SignedTokenVerifier({"main": KEY})
    claims = _part({"sub": "admin", "exp": int(time.time()) + 60})
    for alg in ("none", "HS512", "RS256"):
        with pytest.raises(InvalidTokenError, match="unsupported algorithm"):
            verifier(f"{_part({'alg': alg, 'typ': 'JWT'})}.{claims}.")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": 2_000_000_000}, "no subject"),
        ({"sub": "a"}, "no expiry"),
        ({"sub": "a", "exp": "tomorrow"}, "exp is not a number"),
        ({"sub": "a", "exp": 2_000_000_000, "nbf": 1_999_999_000}, "not valid yet"),
        ({"sub": "a", "exp": 2_000_000_000, "scope": 7}, "scope is neither"),
    ],
)
def test_tokens_with_missing_or_bad_claims_are_refused(claims: dict[str, object], message: str) -> None:
    """Every signed token needs a subject and an expiry; numbers must be numbers; nbf is honoured."""
    header = _part({"alg": "HS256", "typ": "JWT"})
    body = _part(claims)
    signature = base64.urlsafe_b64encode(hmac.new(KEY.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest())
    token = f"{header}.{body}.{signature.rstrip(b'=').decode()}"
    with pytest.raises(InvalidTokenError, match=message):
        SignedTokenVerifier({"main": KEY})(token)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    """With issuer/audience set, tokens must carry them (aud may be a list containing it)."""
    verifier = SignedTokenVerifier({"main": KEY}, issuer="auth.example", audience="orders")
    good = make_signed_token(KEY, "a", 60, issuer="auth.example", audience="orders")
    assert verifier(good) is not None
    with pytest.raises(InvalidTokenError, match="wrong issuer"):
        verifier(make_signed_token(KEY, "a", 60, issuer="elsewhere", audience="orders"))
    with pytest.raises(InvalidTokenError, match="wrong audience"):
        verifier(make_signed_token(KEY, "a", 60, issuer="auth.example", audience="billing"))
    listed = make_signed_token(KEY, "a", 60, issuer="auth.example", claims={"aud": ["billing", "orders"]})
    assert verifier(listed) is not None


def test_malformed_and_oversized_tokens_are_refused_without_a_traceback() -> None:
    """Garbage in a JWT's shape is 'malformed'; a huge token is refused unread; a non-JWT is not this verifier's."""
    verifier = SignedTokenVerifier({"main": KEY})
    with pytest.raises(InvalidTokenError, match="malformed"):
        verifier("a.b.c")
    with pytest.raises(InvalidTokenError, match="too long"):
        verifier("a." + "b" * 9000 + ".c")
    assert verifier("a-static-looking-token") is None


def test_short_keys_and_tokens_without_expiry_cannot_be_made() -> None:
    """Keys under 32 bytes are refused by the verifier and by make_signed_token; so is a non-positive expiry."""
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        SignedTokenVerifier({"main": "short"})
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        make_signed_token("short", "a", 60)
    with pytest.raises(ValueError, match="every signed token expires"):
        make_signed_token(KEY, "a", 0)


def test_the_chain_asks_each_verifier_and_reports_the_first_refusal() -> None:
    """Static, then signed, then custom: the first identity wins; with none, the first refusal is raised."""
    seen: list[str] = []

    def custom(token: str) -> dict[str, object] | None:
        seen.append(token)
        return {"subject": "partner", "scopes": ["x"]} if token == "partner-token" else None

    chain = build_verifier(tokens={"reports": REPORTS_TOKEN}, signing_keys={"main": KEY}, verifier=custom)
    assert chain(REPORTS_TOKEN).subject == "reports"
    assert chain(make_signed_token(KEY, "gw", 60)).subject == "gw"
    partner = chain("partner-token")
    assert partner.subject == "partner" and partner.method == "custom" and partner.scopes == frozenset({"x"})
    with pytest.raises(InvalidTokenError, match="unknown token"):
        chain("nobody-knows-this-token")
    forged = make_signed_token(OTHER_KEY, "gw", 60)
    with pytest.raises(InvalidTokenError, match="bad signature"):
        chain(forged)
    # The custom verifier is only asked about tokens the earlier ones did not accept (a refusal included).
    assert seen == ["partner-token", "nobody-knows-this-token", forged]


def test_a_custom_verifier_is_found_by_its_import_path() -> None:
    """verifier='module:name' imports the callable; a class there is instantiated first."""
    chain = build_verifier(verifier="tests.unit.auth.verifiers:AllowPartner")
    assert chain("partner-token").subject == "partner"
    with pytest.raises(InvalidTokenError, match="unknown partner"):
        chain("other")


def test_a_custom_verifier_must_return_an_identity_a_mapping_or_none() -> None:
    """Anything else is a programming error, raised as TypeError."""
    with pytest.raises(TypeError, match="must return an Identity"):
        ChainedVerifier([lambda token: "yes"])("t")


def test_nothing_to_verify_with_is_a_configuration_error() -> None:
    """The middleware cannot be built without tokens, keys or a verifier."""
    with pytest.raises(ValueError, match="needs tokens, signing_keys or a verifier"):
        build_verifier()


def test_bearer_headers_are_parsed() -> None:
    """'Bearer <token>' gives the token (any case); no header gives None; another scheme is refused."""
    assert bearer_token("Bearer abc.def") == "abc.def"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token(None) is None and bearer_token("  ") is None
    with pytest.raises(InvalidTokenError, match="Bearer scheme"):
        bearer_token("Basic dXNlcjpwYXNz")
    with pytest.raises(InvalidTokenError, match="no token"):
        bearer_token("Bearer")


def test_wildcard_scope_grants_every_scope() -> None:
    """An identity with '*' lacks no scope; others lack what they were not given."""
    assert Identity("a", ["*"]).missing_scopes(["x", "y"]) == []
    assert Identity("a", "x z").missing_scopes(["y", "x", "w"]) == ["w", "y"]
