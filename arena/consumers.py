from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.sessions.backends.base import SessionBase

from .selectors import session_owns_battle
from .sessions import session_key_verified
from .streaming import battle_group


class BattleConsumer(AsyncJsonWebsocketConsumer):
    """Relays a battle's events to the browser session that owns the battle; nothing else."""

    group: str | None = None

    async def connect(self) -> None:
        battle_uuid = self.scope["url_route"]["kwargs"]["battle_uuid"]
        if not await self._owns(battle_uuid, self.scope.get("session")):
            await self.close(code=4404)
            return
        self.group = battle_group(battle_uuid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
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
