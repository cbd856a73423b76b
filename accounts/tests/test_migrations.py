"""API tokens moved from the stores app to accounts (migrations stores.0005
and accounts.0001): every row stays, the key goes on working, and the
content type (with its permissions) follows the model."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.secrets import secret_hash

BEFORE = [("stores", "0004_store_id_rule"), ("accounts", None)]


@pytest.mark.django_db(transaction=True)
def test_tokens_made_in_the_stores_app_keep_working_after_the_move():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state([("stores", "0004_store_id_rule")]).apps
        user = old.get_model("auth", "User").objects.create(username="old-owner")
        old.get_model("stores", "ApiToken").objects.create(user=user, prefix="old-key-", key_hash=secret_hash("old-key-1234"))
        ContentType = old.get_model("contenttypes", "ContentType")
        ContentType.objects.filter(model="apitoken").delete()
        moved = ContentType.objects.create(app_label="stores", model="apitoken")
        old.get_model("auth", "Permission").objects.create(content_type=moved, codename="view_apitoken", name="Can view")

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        token = ApiToken.objects.get(key_hash=secret_hash("old-key-1234"))
        assert token.user.username == "old-owner"
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token old-key-1234")
        assert client.get("/api/stores/").status_code == 200
        from django.contrib.contenttypes.models import ContentType as LiveContentType

        LiveContentType.objects.clear_cache()  # it remembers the content type this test deleted
        assert LiveContentType.objects.get(pk=moved.pk).app_label == "accounts"
        assert LiveContentType.objects.get_for_model(ApiToken).pk == moved.pk
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
