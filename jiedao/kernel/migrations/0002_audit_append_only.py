"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit log (append-only at the database).

TRUNCATE is left to the database owner (the test runner flushes tables with it); the
application's role should not own the table in production (docs/operations.md).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION kernel_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'kernel_auditrecord is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS kernel_auditrecord_append_only ON kernel_auditrecord;
CREATE TRIGGER kernel_auditrecord_append_only BEFORE UPDATE OR DELETE ON kernel_auditrecord
  FOR EACH ROW EXECUTE FUNCTION kernel_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS kernel_auditrecord_append_only ON kernel_auditrecord;
DROP TRIGGER IF EXISTS kernel_auditrecord_no_truncate ON kernel_auditrecord;
DROP FUNCTION IF EXISTS kernel_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cur:  # no params: the % in RAISE stays literal
            cur.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cur:
            cur.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("kernel", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
