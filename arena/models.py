from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from model_adapters import registry
from ratings.outcomes import ARENA_CHOICES


def validate_base_url(value: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http:// or https:// URL, e.g. http://127.0.0.1:8080/v1.")
    if parts.username or parts.password:
        raise ValidationError("Do not put credentials in the URL; name the key's environment variable instead.")


ENV_VAR_NAME = RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", "Enter an environment variable name, e.g. OPENAI_API_KEY.")

#: The fields the admin's Test exercises: how the model is reached and how it is asked. A passing Test holds for
#: these values only (ArenaModel.adapter_fingerprint); the name, weight, aliases and release facts are not among them.
ADAPTER_SETTINGS = ("adapter_kind", "provider_model", "base_url", "key_env", "key_file", "generation", "timeouts",
                    "options")


def adapter_fingerprint(settings: dict[str, Any]) -> str:
    """SHA-256 of the adapter settings (``ADAPTER_SETTINGS``, as JSON with sorted keys).

    A model that accepts images is tested with one (arena/probes.py), so ticking ``accepts_images`` needs a new
    test; the flag is part of the fingerprint only when set, so the fingerprints of text models never changed.
    """
    values = {field: settings.get(field) for field in ADAPTER_SETTINGS}
    if settings.get("accepts_images"):
        values["accepts_images"] = True
    canonical = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ArenaModel(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DEPRECATED = "deprecated", "Deprecated"

    name = models.CharField(
        max_length=100, unique=True, help_text="Public name, revealed after the vote and shown on the leaderboard."
    )
    organization = models.CharField(max_length=100, blank=True)
    aliases = models.TextField(
        blank=True,
        help_text="Other names that identify the model, one per line or separated by commas (e.g. ChatGPT, GPT-4o). "
        "An answer that names any arena model, its organisation or one of these is an identity leak: the vote on "
        "that battle is kept but does not count. Terms shorter than 3 characters are ignored.",
    )
    license = models.CharField(max_length=100, blank=True, help_text="e.g. Apache-2.0, Proprietary.")
    link = models.URLField(blank=True, help_text="A page about the model.")
    adapter_kind = models.CharField(
        "adapter", max_length=30, blank=True, choices=[(s.kind, s.label) for s in registry.SPECS],
        help_text="How the arena reaches the model. Empty for a model known only from imported battles.",
    )
    provider_model = models.CharField(
        "provider model id", max_length=300, blank=True,
        help_text="The provider's id for the model (e.g. gpt-4o-mini, claude-sonnet-4-5), the checkpoint "
        "directory for a local model, or the persona (pelican, heron, ibis; echo repeats the prompt) for a demo model.",
    )
    base_url = models.CharField(
        "base URL", max_length=500, blank=True, validators=[validate_base_url],
        help_text="The API's base URL, e.g. http://127.0.0.1:8080/v1 for an OpenAI-compatible server. "
        "Leave empty for the provider's default.",
    )
    key_env = models.CharField(
        "key environment variable", max_length=100, blank=True, validators=[ENV_VAR_NAME],
        help_text="The name of the environment variable that holds the API key on the workers. "
        "The key itself is never stored in the database.",
    )
    key_file = models.CharField(
        "key file", max_length=500, blank=True,
        help_text="Alternatively, the path of a file on the workers that holds the key (e.g. a mounted secret).",
    )
    generation = models.JSONField(
        "generation settings", default=dict, blank=True,
        help_text='JSON object: max_tokens, temperature, top_p, stop, seed. Example: {"max_tokens": 1024, "temperature": 0.7}',
    )
    timeouts = models.JSONField(
        default=dict, blank=True,
        help_text='JSON object of seconds: connect, first_token, stall, total. Example: {"first_token": 30}',
    )
    options = models.JSONField(
        "adapter options", default=dict, blank=True, help_text="JSON object of adapter-specific options."
    )
    released_at = models.DateTimeField(
        "public release", null=True, blank=True,
        help_text="When the model was released to the public. Leave empty while it is tested before release.",
    )
    prerelease_variants = models.PositiveSmallIntegerField(
        "variants tested before release", default=0,
        help_text="How many private variants of this model were tested in the arena before its release. Picking the "
        "best of several inflates its score until fresh votes arrive: with 2 or more, the model stays provisional on "
        "the leaderboard until ARENA_FRESH_VOTES counted votes were cast on it after its public release.",
    )
    accepts_images = models.BooleanField(
        "accepts images", default=False,
        help_text="The model takes images in prompts (a vision model). Only such models are drawn for a battle whose "
        "prompt has images, and a side-by-side battle with images refuses a model without this. The adapter must "
        "send images too: demo, OpenAI-compatible, Anthropic and Gemini do; a local checkpoint only with an image "
        "processor. Test sends a small image when this is ticked.",
    )
    sampling_weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0)],
        help_text="Relative chance of being drawn for an anonymous battle; 0 never draws it.",
    )
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.PAUSED,
        help_text="Only active models battle, and a new model starts paused: run Test, then Activate (a model "
        "becomes active only with a passing Test of its current connection and generation settings). Paused models "
        "that never had a counted vote are not shown anywhere public. A model that ever battled can be deprecated "
        "but not deleted.",
    )
    # The last run of the admin's Test (arena/probes.py), written by the worker that ran it.
    tested_at = models.DateTimeField("last test", null=True, blank=True, editable=False)
    test_ok = models.BooleanField("last test passed", default=False, editable=False)
    test_summary = models.TextField("last test result", blank=True, editable=False)
    test_fingerprint = models.CharField(
        max_length=64, blank=True, editable=False, help_text="adapter_fingerprint of the settings the last test ran with."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name

    @property
    def is_demo(self) -> bool:
        return self.adapter_kind == "demo"

    def has_battles(self) -> bool:
        return Battle.objects.filter(Q(model_a=self) | Q(model_b=self)).exists()

    def adapter_fingerprint(self) -> str:
        return adapter_fingerprint({field: getattr(self, field) for field in (*ADAPTER_SETTINGS, "accepts_images")})

    def has_passing_test(self) -> bool:
        """Whether the last Test passed with the adapter settings the model has now (a change needs a new test)."""
        return self.test_ok and self.test_fingerprint == self.adapter_fingerprint()


class Battle(models.Model):
    class Mode(models.TextChoices):
        ANONYMOUS = "anonymous", "Anonymous"
        SIDE_BY_SIDE = "side_by_side", "Side by side"

    class Status(models.TextChoices):
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready to vote"
        FAILED = "failed", "Failed"
        VOTED = "voted", "Voted"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ANONYMOUS)
    model_a = models.ForeignKey(ArenaModel, on_delete=models.PROTECT, related_name="battles_as_a")
    model_b = models.ForeignKey(ArenaModel, on_delete=models.PROTECT, related_name="battles_as_b")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.GENERATING)
    session_key = models.CharField(max_length=64, db_index=True)
    ip_hash = models.CharField(max_length=64, help_text="Salted HMAC of the client's IP address; the IP is never stored.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    ready_at = models.DateTimeField(null=True, blank=True, help_text="When the last answer finished.")
    # Facts the leaderboard's categories are computed from, written with the turns.
    turn_count = models.PositiveSmallIntegerField(default=1)
    first_prompt_chars = models.PositiveIntegerField(default=0)
    has_code = models.BooleanField(default=False, help_text="The first prompt contains code.")
    language = models.CharField(max_length=16, blank=True, help_text="Language of the first prompt (ISO 639-1).")
    has_images = models.BooleanField(default=False, help_text="A prompt of the battle has images (the vision view).")
    prompt_fingerprint = models.CharField(
        max_length=32, blank=True, db_index=True,
        help_text="SHA-256 (32 hex digits) of the normalised first prompt, for the duplicated-prompt rule.")
    # Battles loaded by import_battles: where they came from, so a second import skips them.
    source = models.CharField(max_length=100, blank=True, help_text="Empty for battles played here.")
    external_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(model_a=models.F("model_b")), name="battle_distinct_models"),
            models.UniqueConstraint(
                fields=["source", "external_id"], condition=~Q(external_id=""), name="battle_unique_import"
            ),
        ]
        # The refresh counts failed battles at every run (leaderboard/tallies.py): few, so a partial index.
        indexes = [models.Index(fields=["status"], condition=Q(status="failed"), name="battle_failed")]

    def __str__(self) -> str:
        return f"Battle {self.uuid}"


class Turn(models.Model):
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    prompt = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["battle", "index"]
        constraints = [models.UniqueConstraint(fields=["battle", "index"], name="turn_unique_index")]

    def __str__(self) -> str:
        return f"Turn {self.index} of {self.battle_id}"


class StoredImage(models.Model):
    """An image attached to a prompt, after cleaning (arena/images.py): one row and one file per distinct picture."""

    sha256 = models.CharField(max_length=64, primary_key=True, help_text="SHA-256 of the stored file.")
    name = models.CharField(max_length=200, help_text="The file's name in the storage arena_images.")
    media_type = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField(help_text="Bytes.")
    created_at = models.DateTimeField(default=timezone.now)
    public_since = models.DateTimeField(
        null=True, blank=True,
        help_text="Set when an admin makes a snapshot's images public (the snapshot admin's action): from then on "
        "anyone may fetch the image at /images/<sha256>, and that snapshot's conversations export links to it. "
        "Otherwise only the session that attached it (and staff) can see it.",
    )

    class Meta:
        verbose_name = "image"

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.width}×{self.height})"


class TurnImage(models.Model):
    """An image of a turn's prompt, in the order the voter attached them."""

    turn = models.ForeignKey("Turn", on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    image = models.ForeignKey(StoredImage, on_delete=models.PROTECT, related_name="uses")
    source_type = models.CharField(max_length=20, help_text="What the upload was, by its content.")
    source_size = models.PositiveIntegerField(help_text="Bytes of the upload before cleaning.")

    class Meta:
        ordering = ["turn", "position"]
        constraints = [models.UniqueConstraint(fields=["turn", "position"], name="turn_image_unique_position")]

    def __str__(self) -> str:
        return f"Image {self.position} of turn {self.turn_id}"


#: Finish reasons of a complete answer: the model stopped by itself, or the provider's filter stopped it (a
#: refusal is the model's answer as its users get it). Anything else ("length": cut off at the token limit,
#: "incomplete": the stream ended without a reason, "error", "cancelled") leaves the battle's vote out.
COMPLETE_FINISH_REASONS = frozenset({"stop", "content_filter"})


class Answer(models.Model):
    """One side's answer to one turn; written when the side starts and once when it finishes."""

    class Side(models.TextChoices):
        A = "a", "A"
        B = "b", "B"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="answers")
    side = models.CharField(max_length=1, choices=Side.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    tokens_counted = models.BooleanField(default=False, help_text="Token counts are the arena's estimate.")
    time_to_first_token = models.FloatField(null=True, blank=True, help_text="Seconds.")
    latency = models.FloatField(null=True, blank=True, help_text="Seconds.")
    finish_reason = models.CharField(max_length=30, blank=True)
    error = models.CharField(max_length=300, blank=True, help_text="The error class and a message (never a key).")
    error_message = models.CharField(max_length=300, blank=True, help_text="What the voter was told.")
    queued_at = models.DateTimeField(default=timezone.now, help_text="When a worker was last asked for it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    style = models.JSONField(
        default=list, blank=True, help_text="Style counts for style control: words, headers, list items, bold spans."
    )
    leaks = models.JSONField(
        default=list, blank=True,
        help_text="Terms naming an arena model, organisation or alias that the answer contains (an identity leak).",
    )

    regenerations = models.PositiveSmallIntegerField(
        default=0, help_text="How often the voter asked this side for a new answer before voting."
    )
    earlier = models.JSONField(
        default=list, blank=True,
        help_text="The answers this side gave before being regenerated (text, finish reason, time): kept for review, "
        "never shown to voters again.",
    )

    class Meta:
        ordering = ["turn", "side"]
        constraints = [models.UniqueConstraint(fields=["turn", "side"], name="answer_unique_side")]

    def __str__(self) -> str:
        return f"Answer {self.side.upper()} to turn {self.turn_id}"


class Vote(models.Model):
    battle = models.OneToOneField(Battle, on_delete=models.PROTECT, related_name="vote")
    outcome = models.CharField(max_length=10, choices=ARENA_CHOICES)  # seen from model A; see ratings.outcomes
    counts = models.BooleanField(
        help_text="Whether the vote counts toward the leaderboard, subject to the rules each snapshot applies "
        "(too fast, daily cap per address); see docs/integrity.md.")
    excluded_reason = models.CharField(
        max_length=50, blank=True,
        help_text="The rule that left the vote out when it was cast (side_by_side, identity_leak, incomplete_answer); "
        "kept after a reinstatement, so the history stays visible.",
    )
    evidence = models.JSONField(default=dict, blank=True, help_text="What the rule found, for review.")
    reinstated_at = models.DateTimeField(null=True, blank=True, help_text="When an admin made the vote count again.")
    reinstated_by = models.CharField(max_length=150, blank=True)
    time_to_vote = models.FloatField(null=True, blank=True, help_text="Seconds from the last answer to the vote.")
    regenerated = models.BooleanField(
        default=False, help_text="A side of the battle was regenerated before this vote (docs/leaderboard.md)."
    )
    # Indexed: the anomalous-voter checks read a voter's recent votes after every vote (leaderboard/voters.py).
    session_key = models.CharField(max_length=64, db_index=True)
    ip_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Vote {self.outcome} on {self.battle_id}"


class VoteChange(models.Model):
    """A vote whose ``counts`` changed after it was cast (an anomalous-voter flag, an admin's review).

    Written in the same transaction as the change, through :func:`votes_changed`, so that the
    leaderboard's incremental count (``leaderboard/tallies.py``) judges those votes again; the
    refresh deletes the entries it has applied.
    """

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Change of vote {self.vote_id}"


def votes_changed(vote_ids: Iterable[int]) -> None:
    """Record that these votes' ``counts`` changed (call inside the transaction that changes them)."""
    VoteChange.objects.bulk_create([VoteChange(vote_id=pk) for pk in sorted(set(vote_ids))], batch_size=1000)


class AdminAlert(models.Model):
    """Something an admin should know about that no request failed for (e.g. a human-check verifier is down)."""

    source = models.CharField(max_length=100, help_text="What raised it, e.g. human_check:turnstile.")
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved = models.BooleanField(default=False, help_text="Tick once it has been dealt with.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "admin alert"

    def __str__(self) -> str:
        return f"{self.source}: {self.message[:60]}"
