from django.urls import path

from .consumers import BattleConsumer

websocket_urlpatterns = [
    path("ws/battles/<uuid:battle_uuid>/", BattleConsumer.as_asgi()),
]
