"""A scenario that names a host that is not this machine."""

from locust import FastHttpUser, task


class Remote(FastHttpUser):
    host = "http://203.0.113.10"

    @task
    def home(self) -> None:
        self.client.get("/")
