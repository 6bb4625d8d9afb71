from __future__ import annotations

import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.sessions.backends.base import SessionBase

from .errors import INFRASTRUCTURE_ERRORS
from .selectors import session_owns_battle
from .sessions import session_key_verified
from .streaming import battle_group

logger = logging.getLogger(__name__)
TRY_AGAIN_LATER = 1013  # the websocket close code for a server that is briefly overloaded


class BattleConsumer(AsyncJsonWebsocketConsumer):
    """Relays a battle's events to the browser session that owns the battle; nothing else."""

    group: str | None = None

    async def connect(self) -> None:
        battle_uuid = self.scope["url_route"]["kwargs"]["battle_uuid"]
        try:
            if not await self._owns(battle_uuid, self.scope.get("session")):
                await self.close(code=4404)
                return
            self.group = battle_group(battle_uuid)
            await self.channel_layer.group_add(self.group, self.channel_name)
        except INFRASTRUCTURE_ERRORS as exc:
            # A clean "try again later" instead of a failed handshake; the page reconnects and re-reads.
            logger.warning("battle socket refused for now: %s: %s", type(exc).__name__, exc)
            self.group = None
            await self.accept()
            await self.close(code=TRY_AGAIN_LATER)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            with contextlib.suppress(*INFRASTRUCTURE_ERRORS):  # the group expires with the layer's channel
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The socket is one-way; prompts and votes go through HTTP POSTs."""

    async def battle_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])

    @database_sync_to_async
    def _owns(self, battle_uuid: Any, session: SessionBase | None) -> bool:
        # The cookie's key counts only once the store has it (loading the session is a query, so it is done here).
        session_key = session_key_verified(session) if session is not None else None
        return session_owns_battle(battle_uuid, session_key)
