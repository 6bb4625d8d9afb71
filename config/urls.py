from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Arena administration"
admin.site.site_title = "Arena admin"

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=static("arena/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("", include("arena.urls")),
    path("", include("leaderboard.page_urls")),
    path("", include("leaderboard.api_urls")),
]
