from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog, set_language

admin.site.site_header = "Arena administration"
admin.site.site_title = "Arena admin"

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=static("arena/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    # The language picker posts here (a cookie; back to ``next``), and the page scripts' translations are a
    # same-origin script, as ``script-src 'self'`` allows: only the project's catalogue (locale/), not the admin's.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/catalog.js", JavaScriptCatalog.as_view(packages=["arena"]), name="javascript-catalog"),
    path("", include("arena.urls")),
    path("", include("leaderboard.page_urls")),
    path("", include("leaderboard.api_urls")),
]

handler400 = "config.client_errors.bad_request"  # JSON (413 for a body too large) under the API
handler404 = "config.client_errors.not_found"  # JSON under the API, Django's page elsewhere
handler500 = "config.errors.server_error"  # 503 + Retry-After when a service is down (config/errors.py)
