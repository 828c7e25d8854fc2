import django.db.models.functions.text
from django.db import migrations, models


def rename_duplicate_groups(apps, schema_editor):
    """Before the constraint: a second "Administrators" (any case) in an organization becomes
    "Administrators (2)", the oldest keeping its name, so that policies naming either still
    point at the same group and the constraint can be added over existing data."""
    Group = apps.get_model("iam", "Group")
    groups = list(Group.objects.order_by("organization_id", "created_at", "id").only("id", "organization_id", "name"))
    taken: dict[object, set[str]] = {}  # every name in use, so that a new name collides with none
    for group in groups:
        taken.setdefault(group.organization_id, set()).add(group.name.lower())
    kept: set[tuple[object, str]] = set()
    for group in groups:
        key = (group.organization_id, group.name.lower())
        if key not in kept:
            kept.add(key)
            continue
        names, n = taken[group.organization_id], 2
        while True:
            suffix = f" ({n})"
            candidate = group.name[: 64 - len(suffix)] + suffix
            if candidate.lower() not in names:
                break
            n += 1
        names.add(candidate.lower())
        Group.objects.filter(pk=group.pk).update(name=candidate)


class Migration(migrations.Migration):
    dependencies = [
        ("iam", "0004_cache_table"),
    ]

    operations = [
        migrations.RunPython(rename_duplicate_groups, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="group",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                django.db.models.functions.text.Lower("name"),
                name="iam_group_unique_name_per_organization",
                violation_error_message="A group with this name already exists in the organization.",
            ),
        ),
    ]
