from django.apps import AppConfig


class CrfConfig(AppConfig):
    name = "crf"
