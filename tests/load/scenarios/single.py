"""One request per iteration, for the open-model rate tests."""

from locust import FastHttpUser, task


class Single(FastHttpUser):
    @task
    def item(self) -> None:
        self.client.get("/items/1", name="/items/{id}")
