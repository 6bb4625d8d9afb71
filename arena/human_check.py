"""A human check before voting, off by default (``ARENA_HUMAN_CHECK``).

- ``pow``: a built-in proof of work that needs no third party and works offline. The page asks for a
  challenge (``GET /api/human-check``: a random value signed by the server, with its difficulty and
  no state kept), finds a nonce such that SHA-256 of ``"<token>:<nonce>"`` starts with
  ``ARENA_POW_BITS`` zero bits (about 2^bits hashes, a second or so in a browser at 16), and sends it
  with the vote. A token is good for ``ARENA_POW_SECONDS`` and for one vote.
- ``turnstile``, ``hcaptcha``, ``recaptcha``: hosted CAPTCHAs. The page shows the provider's widget;
  its response token comes with the vote and is checked server side at the provider's ``siteverify``
  endpoint (the three share that protocol: ``secret`` and ``response`` posted as a form, ``success``
  in the JSON answer).

If the verifier cannot be reached or answers with an error (a timeout, a 5xx, something not JSON),
the vote is let through (fail open) and an :class:`~arena.models.AdminAlert` is raised, once per
kind every ``ALERT_EVERY_SECONDS``: a peer once lost three months of votes to a verifier outage
nobody noticed. A proof that is wrong is a 403.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils.translation import gettext as _

from .errors import Forbidden
from .models import AdminAlert

logger = logging.getLogger(__name__)
POW_SALT = "arena.human_check.pow"
ALERT_EVERY_SECONDS = 600


@dataclass(frozen=True)
class Provider:
    """A hosted CAPTCHA: its widget script, the widget's class and form field, and where tokens are verified."""

    label: str
    script: str
    widget_class: str
    response_field: str
    verify_url: str
    origins: tuple[str, ...]  # for the Content-Security-Policy (script-src, frame-src, connect-src)


PROVIDERS = {
    "turnstile": Provider("Cloudflare Turnstile", "https://challenges.cloudflare.com/turnstile/v0/api.js",
                          "cf-turnstile", "cf-turnstile-response",
                          "https://challenges.cloudflare.com/turnstile/v0/siteverify",
                          ("https://challenges.cloudflare.com",)),
    "hcaptcha": Provider("hCaptcha", "https://js.hcaptcha.com/1/api.js", "h-captcha", "h-captcha-response",
                         "https://api.hcaptcha.com/siteverify", ("https://hcaptcha.com", "https://*.hcaptcha.com")),
    "recaptcha": Provider("Google reCAPTCHA", "https://www.google.com/recaptcha/api.js", "g-recaptcha",
                          "g-recaptcha-response", "https://www.google.com/recaptcha/api/siteverify",
                          ("https://www.google.com", "https://www.gstatic.com")),
}
KINDS = ("", "pow", *PROVIDERS)


def kind() -> str:
    return str(settings.ARENA_HUMAN_CHECK)


def page_config() -> dict[str, Any]:
    """What the battle page needs to show the check (nothing when it is off)."""
    current = kind()
    if current in PROVIDERS:
        provider = PROVIDERS[current]
        return {"kind": current, "site_key": settings.ARENA_HUMAN_CHECK_SITE_KEY, "script": provider.script,
                "widget_class": provider.widget_class, "response_field": provider.response_field,
                "label": provider.label}
    return {"kind": current}


def content_security_origins() -> tuple[str, ...]:
    """Origins the page must be allowed to load the hosted widget from ((), unless one is configured)."""
    return PROVIDERS[kind()].origins if kind() in PROVIDERS else ()


# ---- proof of work ---------------------------------------------------------------------------------------------


def pow_challenge() -> dict[str, Any]:
    bits = settings.ARENA_POW_BITS
    token = signing.dumps({"n": secrets.token_hex(16), "b": bits}, salt=POW_SALT)
    return {"kind": "pow", "token": token, "bits": bits, "expires_in": settings.ARENA_POW_SECONDS}


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_solve(token: str, bits: int) -> str:
    """A nonce for ``token`` (what the page does; here for the tests and for scripted clients)."""
    nonce = 0
    while leading_zero_bits(hashlib.sha256(f"{token}:{nonce}".encode()).digest()) < bits:
        nonce += 1
    return str(nonce)


def _pow_verify(proof: Any) -> None:
    if not isinstance(proof, dict) or not isinstance(proof.get("token"), str) or not isinstance(proof.get("nonce"), str):
        raise Forbidden(_("Solve the human check before voting (reload the page if it does not start)."))
    token, nonce = proof["token"], proof["nonce"]
    if len(nonce) > 64:
        raise Forbidden(_("The human check's answer is not valid; please vote again."))
    try:
        claims = signing.loads(token, salt=POW_SALT, max_age=settings.ARENA_POW_SECONDS)
    except signing.SignatureExpired:
        raise Forbidden(_("The human check expired; please vote again.")) from None
    except signing.BadSignature:
        raise Forbidden(_("The human check's answer is not valid; please vote again.")) from None
    digest = hashlib.sha256(f"{token}:{nonce}".encode()).digest()
    if leading_zero_bits(digest) < int(claims["b"]):
        raise Forbidden(_("The human check's answer is not valid; please vote again."))
    if not cache.add(f"arena:pow:{claims['n']}", 1, settings.ARENA_POW_SECONDS + 60):
        raise Forbidden(_("This human check was already used; please vote again."))


# ---- hosted CAPTCHAs -------------------------------------------------------------------------------------------


class VerifierDown(Exception):
    """The hosted verifier could not give an answer."""


def _hosted_verify(provider: Provider, proof: Any) -> None:
    token = proof.get("token") if isinstance(proof, dict) else None
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise Forbidden(_("Complete the %(provider)s check before voting.") % {"provider": provider.label})
    url = settings.ARENA_HUMAN_CHECK_VERIFY_URL or provider.verify_url
    try:
        response = httpx.post(url, data={"secret": settings.ARENA_HUMAN_CHECK_SECRET, "response": token},
                              timeout=settings.ARENA_HUMAN_CHECK_TIMEOUT)
        if response.status_code >= 500:
            raise VerifierDown(f"HTTP {response.status_code}")
        answer = response.json()
        if not isinstance(answer, dict) or "success" not in answer:
            raise VerifierDown(f"an answer without 'success' (HTTP {response.status_code})")
    except (httpx.HTTPError, ValueError, VerifierDown) as exc:
        alert_raise(f"human_check:{kind()}", f"The {provider.label} verifier at {url} could not be used "
                    f"({type(exc).__name__}: {exc}); votes are let through unchecked until it answers again.")
        return  # fail open
    if answer["success"] is not True:
        codes = answer.get("error-codes") or []
        logger.info("%s refused a vote's token: %s", provider.label, codes)
        raise Forbidden(_("The %(provider)s check failed; please complete it again.") % {"provider": provider.label})


def alert_raise(source: str, message: str) -> None:
    """Tell the admins (an AdminAlert, at most one per source every ALERT_EVERY_SECONDS) and the logs."""
    logger.error("%s: %s", source, message)
    if cache.add(f"arena:alert:{source}", 1, ALERT_EVERY_SECONDS):
        AdminAlert.objects.create(source=source, message=message[:500])


def vote_verify(proof: Any) -> None:
    """Check a vote's human-check proof when the check is on; Forbidden if it fails."""
    current = kind()
    if not current:
        return
    if current == "pow":
        _pow_verify(proof)
    else:
        _hosted_verify(PROVIDERS[current], proof)
