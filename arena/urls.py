from django.urls import path

from . import views

urlpatterns = [
    path("", views.arena_page, name="arena"),
    path("images/<str:sha256>", views.image_file, name="arena-image"),
    path("api/models", views.models_list, name="arena-models"),
    path("api/human-check", views.human_check_challenge, name="api-human-check"),
    path("api/battles", views.battle_create, name="api-battle-create"),
    path("api/battles/<uuid:battle_uuid>", views.battle_detail, name="api-battle"),
    path("api/battles/<uuid:battle_uuid>/turns", views.turn_create, name="api-turn-create"),
    path("api/battles/<uuid:battle_uuid>/retry", views.answer_retry, name="api-answer-retry"),
    path("api/battles/<uuid:battle_uuid>/regenerate", views.answer_regenerate, name="api-answer-regenerate"),
    path("api/battles/<uuid:battle_uuid>/stop", views.battle_stop, name="api-battle-stop"),
    path("api/battles/<uuid:battle_uuid>/vote", views.battle_vote, name="api-battle-vote"),
]
