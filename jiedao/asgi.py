import os

from django.core.asgi import get_asgi_application

from jiedao.kernel.serving import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings.base")
application = get_asgi_application()
tune_gc()  # after loading: what is loaded now lives as long as the process
