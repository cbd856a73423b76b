from django.contrib import admin

from .models import BusinessHours, Store, StatusSpan


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["store_id", "timezone", "owner", "last_status", "last_poll_at"]
    list_filter = ["last_status", "timezone"]
    search_fields = ["store_id"]
    readonly_fields = ["device_key_hash", "last_poll_at", "last_status", "created_at", "updated_at"]
    inlines = [BusinessHoursInline]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)


@admin.register(StatusSpan)
class StatusSpanAdmin(admin.ModelAdmin):
    list_display = ["store", "status", "first_poll_at", "last_poll_at", "poll_count"]
    list_filter = ["status"]
    search_fields = ["store__store_id"]
    list_select_related = ["store"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(store__in=Store.objects.visible_to(request.user))

    # Spans are written by polls only.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
