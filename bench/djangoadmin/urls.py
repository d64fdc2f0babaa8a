"""The admin at /admin/, its users changelist 20 a page with a search on the email's prefix."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.urls import path


class BenchUserAdmin(UserAdmin):  # type: ignore[type-arg]
    # The portal's page size, and its search: a prefix of the email (Django's default would be
    # icontains on username, first and last name and email).
    list_per_page = 20
    search_fields = ("email__startswith",)


admin.site.unregister(User)
admin.site.register(User, BenchUserAdmin)

urlpatterns = [path("admin/", admin.site.urls)]
