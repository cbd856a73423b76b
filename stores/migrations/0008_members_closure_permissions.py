"""The members group may open the closure pages: which closures a member sees
and may change there is the admin class's to decide (their scope and role).
Written out rather than imported, so that it keeps doing what it did."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

CLOSURE_PERMISSIONS = {"stores": ["view_closure", "add_closure", "change_closure", "delete_closure"]}


def grant(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    app_config = apps.get_app_config("stores")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=using)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(using).filter(name="members").first()
    if group is None:
        return
    group.permissions.add(
        *Permission.objects.using(using).filter(content_type__app_label="stores", codename__in=CLOSURE_PERMISSIONS["stores"])
    )


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(schema_editor.connection.alias).filter(name="members").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="stores", codename__in=CLOSURE_PERMISSIONS["stores"])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0007_closures"),
        ("accounts", "0003_members_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
