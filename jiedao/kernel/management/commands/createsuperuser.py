"""Break-glass accounts are made from the command line only, and every one is audited."""

from django.contrib.auth.management.commands import createsuperuser

from jiedao.kernel.audit import audit_record


class Command(createsuperuser.Command):
    help = createsuperuser.Command.help + " (audited: break-glass use only; superusers cannot log in on the web)"

    def handle(self, *args, **options):
        from django.contrib.auth import get_user_model

        User = get_user_model()
        before = set(User.objects.filter(is_superuser=True).values_list("pk", flat=True))
        result = super().handle(*args, **options)
        for user in User.objects.filter(is_superuser=True).exclude(pk__in=before):
            audit_record(actor=None, action="auth.superuser_created", obj=user, username=user.username,
                         reason="break-glass account created from the command line")
        return result
