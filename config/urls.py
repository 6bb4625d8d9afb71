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

handler400 = "config.client_errors.bad_request"  # JSON (413 for a body too large) under the API
handler404 = "config.client_errors.not_found"  # JSON under the API, Django's page elsewhere
handler500 = "config.errors.server_error"  # 503 + Retry-After when a service is down (config/errors.py)
