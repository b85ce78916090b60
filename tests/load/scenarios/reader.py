"""A plain locustfile, as users already have them: nothing Overdrive-specific."""

from locust import FastHttpUser, constant, task


class Reader(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def item(self) -> None:
        self.client.get("/items/7", name="/items/{id}")

    @task
    def home(self) -> None:
        self.client.get("/")
