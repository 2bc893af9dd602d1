from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "OMS back-office"
admin.site.site_title = "OMS"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("oms.config.api_urls")),
    path("", include("oms.config.web_urls")),
]

# JSON under /api/, the site's own pages elsewhere (oms.api.errors).
handler400 = "oms.api.errors.bad_request"
handler403 = "oms.api.errors.permission_denied"
handler404 = "oms.api.errors.page_not_found"
handler500 = "oms.api.errors.server_error"
