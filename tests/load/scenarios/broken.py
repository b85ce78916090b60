"""A locustfile that fails on import."""

from locust import FastHttpUser

raise RuntimeError("scenario setup failed")


class Never(FastHttpUser):
    pass
