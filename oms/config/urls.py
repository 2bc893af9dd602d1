from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "OMS back-office"
admin.site.site_title = "OMS"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("oms.config.api_urls")),
    path("", include("oms.config.web_urls")),
]
