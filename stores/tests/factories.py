import datetime as dt

import factory
from django.contrib.auth import get_user_model

from accounts.models import Membership, Organization, Role, StoreGroup
from accounts.secrets import secret_hash
from stores.models import BusinessHours, PollStatus, Store, StatusSpan


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"owner{n}")
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"chain{n}")


class StoreGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreGroup
        django_get_or_create = ("organization", "name")

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"region{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory, is_staff=True)
    role = Role.VIEWER

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(extracted)


def member_account(organization: Organization, username: str, role: Role = Role.VIEWER, groups=(), *, members_group=None):
    """A staff account that is a member of the organization with `role`,
    limited to `groups` (the organization's, by name or as rows)."""
    user = UserFactory(username=username, is_staff=True)
    if members_group is not None:
        user.groups.add(members_group)
    names = [group for group in groups if isinstance(group, str)]
    rows = [group for group in groups if not isinstance(group, str)]
    rows += list(StoreGroup.objects.filter(organization=organization, name__in=names))
    MembershipFactory(organization=organization, user=user, role=role, groups=rows)
    return user


def organization_of(user) -> Organization:
    """The organization a test's owner is the admin of, as create_owner makes
    it: named after them, made with them as its admin on first use."""
    membership = Membership.objects.filter(user=user, role=Role.ADMIN).select_related("organization").first()
    if membership is not None:
        return membership.organization
    organization = OrganizationFactory(name=user.get_username())
    Membership.objects.create(organization=organization, user=user, role=Role.ADMIN)
    return organization


class StoreFactory(factory.django.DjangoModelFactory):
    """A store; `owner=user` puts it in the organization that user is the admin of (organization_of)."""

    class Meta:
        model = Store
        exclude = ["owner"]
        skip_postgeneration_save = True

    store_id = factory.Sequence(lambda n: f"store-{n:04d}")
    owner = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda store: organization_of(store.owner))
    timezone = "America/Chicago"
    device_key_hash = factory.LazyAttribute(lambda store: secret_hash(f"key-for-{store.store_id}"))

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(extracted)


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHours

    store = factory.SubFactory(StoreFactory)
    day_of_week = 0
    start_time_local = dt.time(9)
    end_time_local = dt.time(17)
    closed = False


class StatusSpanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatusSpan

    store = factory.SubFactory(StoreFactory)
    status = PollStatus.ACTIVE
    first_poll_at = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)
    last_poll_at = factory.LazyAttribute(lambda span: span.first_poll_at)
    poll_count = 1
