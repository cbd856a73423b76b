"""The `owners` group: what a store owner may do in the admin.

Owners manage their own stores and those stores' hours, and read their
stores' status spans and their own reports; which rows they see is decided by
the admin classes (their own only), these permissions decide what they may do
with them. Not included, on purpose:

- changing or deleting spans: spans are written by polls only, and pruned by
  `manage.py prune_spans`; deleting a store takes its spans with it;
- adding, changing or deleting reports: reports are asked for from the report
  pages or the API (POST /trigger_report, /api/reports/), which run the report
  task; a report row made in the admin would never be generated.
  A report file is fetched from /get_report/<id>;
- anything on users, groups or API tokens: `manage.py create_owner` or a
  superuser gives an owner their token.

The list is written out here rather than imported, so that this migration
keeps doing what it did when it was written.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

OWNERS_GROUP = "owners"

OWNER_PERMISSIONS = {
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
}


def create_owners_group(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    # Permissions are created after `migrate` has run (post_migrate), so on a
    # fresh database they do not exist yet: create them (and the content
    # types) now, from the historical models.
    for label in OWNER_PERMISSIONS:
        app_config = apps.get_app_config(label)
        # The historical app configs have no models module, and
        # create_permissions skips apps without one.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {(label, codename) for label, codenames in OWNER_PERMISSIONS.items() for codename in codenames}
    permissions = [
        permission
        for permission in Permission.objects.using(using).select_related("content_type").filter(
            content_type__app_label__in=OWNER_PERMISSIONS
        )
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    found = {(permission.content_type.app_label, permission.codename) for permission in permissions}
    if found != wanted:
        raise RuntimeError(f"Permissions missing for the owners group: {sorted(wanted - found)}")
    group, _ = Group.objects.using(using).get_or_create(name=OWNERS_GROUP)
    # Exactly these: a group made by hand before this migration loses any others.
    group.permissions.set(permissions)


def delete_owners_group(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=OWNERS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0001_initial"),
        ("reports", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_owners_group, delete_owners_group)]
