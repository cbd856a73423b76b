"""The `owners` group becomes the `members` group: what a member of an
organization may open in the admin. Which rows they see there, and what their
role lets them do with each (a viewer only looks, a manager edits stores, an
admin also deletes stores and manages members and groups), the admin classes
decide by the access rule (stores.access, accounts.selectors); these
permissions only open the pages. Not included, on purpose (as for owners
before): changing spans, adding or changing reports, users and API tokens.

The list is written out here rather than imported, so that this migration
keeps doing what it did when it was written.
"""
import importlib

from django.contrib.auth.management import create_permissions
from django.db import migrations

MEMBERS_GROUP = "members"

MEMBER_PERMISSIONS = {
    "stores": [
        "view_store",
        "add_store",
        "change_store",
        "delete_store",
        "view_businesshours",
        "add_businesshours",
        "change_businesshours",
        "delete_businesshours",
        "view_statusspan",
    ],
    "reports": ["view_report"],
    "accounts": [
        "view_organization",
        "view_membership",
        "add_membership",
        "change_membership",
        "delete_membership",
        "view_storegroup",
        "add_storegroup",
        "change_storegroup",
        "delete_storegroup",
    ],
}


def members_group(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    # On a fresh database the permissions are made after migrate (post_migrate): make them now.
    for label in MEMBER_PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {(label, codename) for label, codenames in MEMBER_PERMISSIONS.items() for codename in codenames}
    permissions = [
        permission
        for permission in Permission.objects.using(using).select_related("content_type").filter(
            content_type__app_label__in=MEMBER_PERMISSIONS
        )
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    found = {(permission.content_type.app_label, permission.codename) for permission in permissions}
    if found != wanted:
        raise RuntimeError(f"Permissions missing for the members group: {sorted(wanted - found)}")
    groups = Group.objects.using(using)
    # The owners keep their place: the same group, renamed, with more permissions.
    if not groups.filter(name=MEMBERS_GROUP).exists():
        groups.filter(name="owners").update(name=MEMBERS_GROUP)
    group, _ = groups.get_or_create(name=MEMBERS_GROUP)
    group.permissions.set(permissions)


def owners_group(apps, schema_editor) -> None:
    owners = importlib.import_module("stores.migrations.0002_owners_group")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    using = schema_editor.connection.alias
    group = Group.objects.using(using).filter(name=MEMBERS_GROUP).first()
    if group is None:
        return
    group.name = "owners"
    group.save()
    wanted = {(label, codename) for label, codenames in owners.OWNER_PERMISSIONS.items() for codename in codenames}
    group.permissions.set(
        permission
        for permission in Permission.objects.using(using).select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_organizations"),
        ("stores", "0006_organizations"),
        ("reports", "0005_report_limits"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(members_group, owners_group)]
