from django.urls import path

from . import views

urlpatterns = [
    path("leaderboard", views.leaderboard, name="leaderboard"),
    path("leaderboard/snapshots/<int:pk>", views.leaderboard_snapshot, name="leaderboard-snapshot"),
]
