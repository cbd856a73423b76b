"""Django plumbing every app uses: JSON errors and parsing, OpenAPI helpers,
rate settings, strict serializers, the admin's not-found rule, ownership
querysets, SQL expressions and bulk writes. Imports core and Django only."""
