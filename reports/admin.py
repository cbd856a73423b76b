from django.contrib import admin

from .models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "as_of", "requested_by", "stores_done", "stores_total", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in Report._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
