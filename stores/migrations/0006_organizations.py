"""Stores belong to organizations, not users. Every account that owned a
store, held an API token or was in the owners group gets an organization of
its own, named after it, with itself as admin; its stores move there. So every
store stays visible to exactly whom it was (its owner, and superusers), and
every token keeps its powers: a token acts as its user, now an admin of the
organization holding the user's stores."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def organizations_from_owners(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    User = apps.get_model(settings.AUTH_USER_MODEL)
    Store = apps.get_model("stores", "Store")
    ApiToken = apps.get_model("accounts", "ApiToken")
    Organization = apps.get_model("accounts", "Organization")
    Membership = apps.get_model("accounts", "Membership")
    owner_ids = (
        set(Store.objects.using(using).values_list("owner_id", flat=True))
        | set(ApiToken.objects.using(using).values_list("user_id", flat=True))
        | set(User.objects.using(using).filter(groups__name="owners").values_list("pk", flat=True))
    )
    for user in User.objects.using(using).filter(pk__in=owner_ids).order_by("pk"):
        organization = Organization.objects.using(using).create(name=user.username)
        Membership.objects.using(using).create(organization=organization, user=user, role="admin")
        Store.objects.using(using).filter(owner_id=user.pk).update(organization=organization)


def owners_from_organizations(apps, schema_editor) -> None:
    # Back: each store to its organization's first admin (the account it came from).
    using = schema_editor.connection.alias
    Store = apps.get_model("stores", "Store")
    Membership = apps.get_model("accounts", "Membership")
    admins = {}
    for membership in Membership.objects.using(using).filter(role="admin").order_by("pk"):
        admins.setdefault(membership.organization_id, membership.user_id)
    for organization_id, user_id in admins.items():
        Store.objects.using(using).filter(organization_id=organization_id).update(owner_id=user_id)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_organizations"),
        ("stores", "0005_api_token_moved_to_accounts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="store",
            name="organization",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="stores", to="accounts.organization"
            ),
        ),
        migrations.AddField(
            model_name="store",
            name="groups",
            field=models.ManyToManyField(blank=True, related_name="stores", to="accounts.storegroup"),
        ),
        # The owner may be null on the way back, until owners_from_organizations fills it.
        migrations.AlterField(
            model_name="store",
            name="owner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="stores", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.RunPython(organizations_from_owners, owners_from_organizations),
        migrations.AlterField(
            model_name="store",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="stores", to="accounts.organization"
            ),
        ),
        migrations.RemoveField(model_name="store", name="owner"),
    ]
