"""The admin for members of organizations and superusers.

Members (staff accounts in the members group) see the stores the access rule
gives them (StoreQuerySet.visible_to: their organizations, or their groups);
viewers only look, managers add and change stores and rotate device keys,
admins also delete stores; superusers do everything. Which rows a user sees
and what they may do with one is decided by the access rule (stores.access);
the members group's permissions (accounts migration 0003) open the pages.
Writes that are more than saving a form go through stores.services.
"""
from __future__ import annotations

import datetime as dt

import pytz
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from simple_history.admin import SimpleHistoryAdmin

from common.admin import NotFoundOutsideQuerysetMixin
from accounts.models import Role
from accounts.selectors import groups_visible_to, holds_role_somewhere, limiting_groups, organizations_of
from common.ownership import sees_everything
from core.closures import PeriodInvalid, closure_period

from .hours import HoursInput, local_time, week_problems
from .access import closure_target_manageable, store_role
from .models import DEFAULT_TIMEZONE, BusinessHours, Closure, Store, StatusSpan, known_timezones, validate_timezone
from .selectors import closures_covering
from .serializers import closure_texts
from .services import closure_create, closure_update, store_create, store_rotate_device_key

DAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"), (6, "Sunday")]
# The API takes at most this many entries for a week.
MAX_HOURS_ROWS = 7 * 48


def _key_message(request: HttpRequest, store: Store, key: str, *, what: str) -> None:
    # The key is not stored (only its hash), so this message is the one place it appears.
    messages.success(
        request,
        format_html(
            "{} for store {}: <code>{}</code>. Copy it now: it is stored hashed and cannot be shown again. "
            "The store's device sends it as the X-Store-Key header.",
            what,
            store.store_id,
            key,
        ),
    )


# --------------------------------------------------------------------------
# Stores and their hours
# --------------------------------------------------------------------------


def timezone_choices() -> list[tuple[str, str]]:
    # pytz's common names, but only those zoneinfo (the engine's converter) knows.
    known = known_timezones()
    return [(name, name) for name in pytz.common_timezones if name in known]


class StoreAdminForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=(), initial=DEFAULT_TIMEZONE, validators=[validate_timezone])
    # Set by StoreAdmin.get_form: the user filling the form in.
    user = None

    class Meta:
        model = Store
        fields = ["store_id", "timezone", "organization", "groups", "alert_grace_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = timezone_choices()
        current = self.instance.timezone if self.instance.pk else None
        # A store registered through the API may have a zone outside the
        # common list (an alias such as Asia/Calcutta): keep it selectable.
        if current and (current, current) not in choices:
            choices = [(current, current), *choices]
        self.fields["timezone"].choices = choices

    def clean(self):
        cleaned = super().clean()
        # The organization field is read-only on a store's page but for superusers.
        organization = cleaned.get("organization")
        organization_id = organization.pk if organization else self.instance.organization_id
        strangers = [group.name for group in cleaned.get("groups") or [] if group.organization_id != organization_id]
        if organization_id and strangers:
            self.add_error("groups", f"Not groups of the store's organization: {', '.join(strangers)}.")
        elif organization_id and "groups" in cleaned:
            # As on the API: a manager limited to groups keeps the store in at least one of theirs.
            limits = limiting_groups(self.user, organization_id, role=Role.MANAGER)
            if limits is not None and not set(cleaned["groups"]) & set(limits):
                names = ", ".join(sorted(group.name for group in limits))
                self.add_error("groups", f"You manage only some groups' stores: put the store in one of them ({names}).")
        return cleaned


class LocalTimeFormField(forms.Field):
    """HH:MM[:SS] local time, as the API takes it; 24:00 (the midnight ending
    the day) is allowed as an end only, and stored as 00:00."""

    widget = forms.TextInput(attrs={"size": 8, "placeholder": "HH:MM"})

    def __init__(self, *, is_end: bool, **kwargs):
        self.is_end = is_end
        super().__init__(**kwargs)

    def to_python(self, value) -> dt.time | None:
        if isinstance(value, dt.time) or value in self.empty_values:
            return value or None
        try:
            return local_time(value, is_end=self.is_end)
        except ValueError as exc:
            raise ValidationError(f"Expected HH:MM or HH:MM:SS: {str(exc).rstrip('.')}.", code="invalid") from None

    def prepare_value(self, value):
        if not isinstance(value, dt.time):
            return value
        # An end of 00:00 is always the midnight ending the day: show it as 24:00.
        if self.is_end and value == dt.time(0):
            return "24:00"
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")


class BusinessHoursForm(forms.ModelForm):
    day_of_week = forms.TypedChoiceField(choices=[("", "---------"), *DAYS], coerce=int, label="Day")
    start_time_local = LocalTimeFormField(is_end=False, required=False, label="Opens")
    end_time_local = LocalTimeFormField(is_end=True, required=False, label="Closes", help_text="24:00 for midnight")

    class Meta:
        model = BusinessHours
        fields = ["day_of_week", "start_time_local", "end_time_local", "closed"]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_time_local"), cleaned.get("end_time_local")
        if cleaned.get("closed"):
            if start is not None or end is not None:
                raise ValidationError("A closed day has no opening or closing time.")
        elif not self.has_error("start_time_local") and not self.has_error("end_time_local"):
            if start is None:
                self.add_error("start_time_local", "Give the opening time, or tick closed.")
            if end is None:
                self.add_error("end_time_local", "Give the closing time, or tick closed.")
        return cleaned


class BusinessHoursFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        week = [
            HoursInput(
                day_of_week=form.cleaned_data["day_of_week"],
                start=form.cleaned_data.get("start_time_local"),
                end=form.cleaned_data.get("end_time_local"),
                closed=form.cleaned_data.get("closed", False),
            )
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        problems = week_problems(week=week)
        if problems:
            raise ValidationError(problems)


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    form = BusinessHoursForm
    formset = BusinessHoursFormSet
    extra = 0
    max_num = MAX_HOURS_ROWS
    verbose_name = "interval or closed day"
    verbose_name_plural = "Business hours (days without rows are open all day)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[BusinessHours]:
        # The parent's page is already limited to visible stores; this keeps
        # the inline safe on its own.
        return super().get_queryset(request).filter(store__in=Store.objects.visible_to(request.user))


class StoreGroupFilter(admin.SimpleListFilter):
    """By group, offering only the groups the user sees (not every group of the stores listed)."""

    title = "group"
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        groups = groups_visible_to(request.user).select_related("organization").order_by("name")
        return [(str(group.pk), f"{group.name} ({group.organization.name})") for group in groups]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Store]) -> QuerySet[Store]:
        value = self.value()
        return queryset.filter(groups=int(value)) if value and value.isdigit() else queryset


@admin.register(Store)
class StoreAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ["store_id", "timezone", "organization", "last_status", "last_poll_at"]
    list_filter = ["last_status", "timezone"]
    list_select_related = ["organization"]
    search_fields = ["store_id"]
    inlines = [BusinessHoursInline]
    actions = ["rotate_device_keys"]
    filter_horizontal = ["groups"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        return super().get_queryset(request).visible_to(request.user)

    def _role_includes(self, request: HttpRequest, obj: Store | None, role: Role) -> bool:
        # Without an object: whether the user holds the role in any organization.
        if obj is None:
            return holds_role_somewhere(request.user, role)
        return Role.includes(store_role(request.user, obj), role)

    def has_view_permission(self, request: HttpRequest, obj: Store | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._role_includes(request, obj, Role.VIEWER)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._role_includes(request, None, Role.MANAGER)

    def has_change_permission(self, request: HttpRequest, obj: Store | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._role_includes(request, obj, Role.MANAGER)

    def has_delete_permission(self, request: HttpRequest, obj: Store | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._role_includes(request, obj, Role.ADMIN)

    def get_fields(self, request: HttpRequest, obj: Store | None = None) -> list[str]:
        fields = ["store_id", "timezone", "organization", "groups", "alert_grace_minutes"]
        if obj is None:
            return fields
        return [*fields, "closures_covering", "device_key_hash", "last_status", "last_poll_at", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Store | None = None) -> list[str]:
        if obj is None:
            return []
        # The store id is what devices post polls with: it is fixed once
        # registered, as in the API; a store changes organization only by a superuser.
        fixed = ["store_id", "closures_covering", "device_key_hash", "last_status", "last_poll_at", "created_at", "updated_at"]
        return fixed if sees_everything(request.user) else ["organization", *fixed]

    def get_form(self, request: HttpRequest, obj: Store | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    @admin.display(description="closures")
    def closures_covering(self, store: Store):
        closures = Closure.objects.filter(closures_covering(store)).order_by("-id")[:50]
        links = format_html_join(
            "",
            '<li><a href="{}">{}</a></li>',
            ((reverse("admin:stores_closure_change", args=[closure.pk]), str(closure)) for closure in closures),
        )
        return format_html(
            '<ul>{}</ul><a href="{}?stores={}&organization={}">Close this store for a period…</a>',
            links or mark_safe("<li>None</li>"),  # a constant: nothing to escape
            reverse("admin:stores_closure_add"),
            store.pk,
            store.organization_id,
        )

    def get_list_filter(self, request: HttpRequest) -> list:
        return [*self.list_filter, StoreGroupFilter, ("organization", admin.RelatedOnlyFieldListFilter)]

    def save_related(self, request: HttpRequest, form: StoreAdminForm, formsets, change: bool) -> None:
        # The groups field offers only the groups the user may use: the store's
        # other groups (which a manager limited to some groups does not see)
        # stay as they are, as on the API.
        usable = groups_visible_to(request.user, role=Role.MANAGER).values("pk")
        hidden = list(form.instance.groups.exclude(pk__in=usable)) if change else []
        super().save_related(request, form, formsets, change)
        form.instance.groups.add(*hidden)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "organization":
            # Where the user may add stores: as a manager or admin.
            kwargs["queryset"] = organizations_of(request.user, role=Role.MANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "groups":
            # A manager limited to some groups places stores in those only.
            kwargs["queryset"] = groups_visible_to(request.user, role=Role.MANAGER).select_related("organization")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Store, form: StoreAdminForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = store_create(
            organization=form.cleaned_data["organization"],
            store_id=obj.store_id,
            timezone=obj.timezone,
            alert_grace_minutes=obj.alert_grace_minutes,
        )
        # The inlines are saved against the form's instance, `obj`: give it the new row.
        for field in Store._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.store, field.attname))
        obj._state.adding = False
        obj._state.db = created.store._state.db
        _key_message(request, obj, created.device_key, what="Device key")

    def get_deleted_objects(self, objs, request: HttpRequest):
        # Deleting a store deletes its hours and its span history with it, as
        # DELETE /api/stores/<id>/ does. The default page would list every
        # span (thousands per store) and ask for the permission to delete
        # spans, which nobody has in the admin (spans are written by polls
        # only): list the stores with counts instead.
        stores = list(objs)

        def counts(model) -> dict[int, int]:
            rows = model.objects.filter(store__in=stores).order_by().values("store").annotate(n=Count("pk"))
            return {row["store"]: row["n"] for row in rows}

        hours, spans = counts(BusinessHours), counts(StatusSpan)
        # Selected in bulk, stores are checked here one by one: a user may be
        # an admin in one organization and only a manager in another.
        deletable = set(
            Store.objects.visible_to(request.user, role=Role.ADMIN)
            .filter(pk__in=[store.pk for store in stores])
            .values_list("pk", flat=True)
        )
        perms_needed = {f"store {store.store_id}" for store in stores if store.pk not in deletable}
        deleted: list = []
        for store in stores:
            url = reverse("admin:stores_store_change", args=[store.pk], current_app=self.admin_site.name)
            deleted.append(format_html('{}: <a href="{}">{}</a>', capfirst(Store._meta.verbose_name), url, store))
            deleted.append([f"{hours.get(store.pk, 0)} business hours rows", f"{spans.get(store.pk, 0)} status spans"])
        model_count = {
            Store._meta.verbose_name_plural: len(stores),
            BusinessHours._meta.verbose_name_plural: sum(hours.values()),
            StatusSpan._meta.verbose_name_plural: sum(spans.values()),
        }
        return deleted, model_count, perms_needed, []

    # Device keys ------------------------------------------------------------

    @admin.action(description="Rotate the device keys of the selected stores", permissions=["change"])
    def rotate_device_keys(self, request: HttpRequest, queryset: QuerySet[Store]) -> None:
        # The changelist's queryset holds the stores the user sees; keys are a manager's to rotate.
        refused = queryset.exclude(pk__in=Store.objects.visible_to(request.user, role=Role.MANAGER).values("pk"))
        if refused.exists():
            messages.error(request, "Rotating device keys needs the manager role in the stores' organization; nothing was rotated.")
            return
        for store in queryset:
            key = store_rotate_device_key(store=store)
            self.log_change(request, store, "Rotated the device key.")
            _key_message(request, store, key, what="New device key")

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        rotate = path(
            "<path:object_id>/rotate-key/",
            self.admin_site.admin_view(self.rotate_key_view),
            name="%s_%s_rotate_key" % info,
        )
        # Before the default URLs: their "<path:object_id>/" would take it.
        return [rotate, *super().get_urls()]

    def rotate_key_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: a confirmation page; POST: a new key, shown once, and back to the store."""
        store = self.get_object(request, unquote(object_id))
        if store is None:
            raise Http404("No such store.")
        if not self.has_change_permission(request, store):
            raise PermissionDenied
        if request.method == "POST":
            key = store_rotate_device_key(store=store)
            self.log_change(request, store, "Rotated the device key.")
            _key_message(request, store, key, what="New device key")
            return HttpResponseRedirect(
                reverse("admin:stores_store_change", args=[store.pk], current_app=self.admin_site.name)
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Rotate the device key?",
            "subtitle": str(store),
            "object": store,
            "opts": self.opts,
            "app_label": self.opts.app_label,
        }
        return TemplateResponse(request, "admin/stores/store/rotate_key_confirmation.html", context)


@admin.register(StatusSpan)
class StatusSpanAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    """Read only: spans are written by polls and pruned by manage.py prune_spans."""

    list_display = ["store", "status", "first_poll_at", "last_poll_at", "poll_count"]
    list_filter = ["status"]
    search_fields = ["store__store_id"]
    list_select_related = ["store"]
    # The span table is the big one: skip the second, unfiltered count.
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusSpan]:
        return super().get_queryset(request).filter(store__in=Store.objects.visible_to(request.user))

    def has_view_permission(self, request: HttpRequest, obj: StatusSpan | None = None) -> bool:
        visible = obj is None or store_role(request.user, obj.store) is not None
        return super().has_view_permission(request, obj) and visible

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StatusSpan | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StatusSpan | None = None) -> bool:
        return False


# --------------------------------------------------------------------------
# Closures, and the history of closures and business hours
# --------------------------------------------------------------------------


class ClosureAdminForm(forms.ModelForm):
    """The period as the API takes it: dates, local times or instants (core.closures.closure_period)."""

    start = forms.CharField(max_length=40, help_text="YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local), or an instant with Z or an offset.")
    end = forms.CharField(max_length=40, help_text="The same form as start; a date is the last day closed.")
    user = None

    class Meta:
        model = Closure
        fields = ["organization", "stores", "group", "start", "end", "every_year", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["start"], self.initial["end"] = closure_texts(self.instance)

    def clean(self):
        cleaned = super().clean()
        if "start" in cleaned and "end" in cleaned:
            try:
                cleaned["period"] = closure_period(cleaned["start"], cleaned["end"], every_year=cleaned.get("every_year", False))
            except PeriodInvalid as exc:
                self.add_error(exc.field if exc.field in self.fields else "end", str(exc))
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        stores, group = cleaned.get("stores") or [], cleaned.get("group")
        if stores and group:
            self.add_error("group", "A closure covers listed stores or a group, not both.")
        if organization is not None:
            if any(store.organization_id != organization.pk for store in stores):
                self.add_error("stores", "Stores of the closure's organization only.")
            if group is not None and group.organization_id != organization.pk:
                self.add_error("group", "A group of the closure's organization only.")
            manageable = closure_target_manageable(
                self.user, organization_id=organization.pk, stores=stores, group_id=group.pk if group else None
            )
            if not self.instance.pk and not self.errors and not manageable:
                self.add_error(None, "You manage only some of these stores: choose stores or a group of yours.")
        return cleaned


@admin.register(Closure)
class ClosureAdmin(NotFoundOutsideQuerysetMixin, SimpleHistoryAdmin):
    form = ClosureAdminForm
    list_display = ["reason", "period_text", "covers", "organization", "created_by", "created_at"]
    list_filter = ["every_year", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization", "group", "created_by"]
    search_fields = ["reason"]
    filter_horizontal = ["stores"]

    @admin.display(description="covers")
    def covers(self, closure: Closure) -> str:
        if closure.stores_given:
            return "listed stores"
        return f"group {closure.group.name}" if closure.group_id else "every store"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Closure]:
        return Closure.objects.visible_to(request.user).select_related("organization", "group", "created_by")

    def get_form(self, request: HttpRequest, obj: Closure | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: Closure | None = None) -> list[str]:
        # What a closure covers is fixed once made, as on the API.
        return ["organization", "stores", "group"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = organizations_of(request.user, role=Role.MANAGER)
        if db_field.name == "group":
            kwargs["queryset"] = groups_visible_to(request.user, role=Role.MANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "stores":
            kwargs["queryset"] = Store.objects.visible_to(request.user, role=Role.MANAGER)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _may_write(self, request: HttpRequest, obj: Closure | None) -> bool:
        if obj is None:
            return holds_role_somewhere(request.user, Role.MANAGER)
        stores = obj.stores.all() if obj.stores_given else ()
        return closure_target_manageable(request.user, organization_id=obj.organization_id, stores=stores, group_id=obj.group_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may_write(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Closure | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Closure | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def save_model(self, request: HttpRequest, obj: Closure, form: ClosureAdminForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            closure_update(closure=obj, period=data["period"], every_year=data["every_year"], reason=data["reason"])
            return
        created = closure_create(
            organization=data["organization"],
            period=data["period"],
            reason=data["reason"],
            created_by=request.user,
            stores=list(data["stores"]) or None,
            group=data.get("group"),
            every_year=data["every_year"],
        )
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # The service has set the stores; the form's M2M save would repeat it.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(BusinessHours.history.model)
class BusinessHoursHistoryAdmin(admin.ModelAdmin):
    """Every change to business hours: who, when, the row before or after (read only)."""

    list_display = ["history_date", "store", "history_type", "day_of_week", "start_time_local", "end_time_local", "closed", "history_user"]
    list_filter = ["history_type"]
    list_select_related = ["store", "history_user"]
    search_fields = ["store__store_id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(store_id__in=Store.objects.visible_to(request.user).values("pk"))

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and holds_role_somewhere(request.user, Role.VIEWER)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
