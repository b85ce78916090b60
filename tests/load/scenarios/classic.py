"""A locustfile on Locust's requests-based HttpUser, the most common kind in the wild."""

from locust import HttpUser, constant, task


class Classic(HttpUser):
    wait_time = constant(0.05)

    @task
    def item(self) -> None:
        self.client.get("/items/3", name="/items/{id}")
