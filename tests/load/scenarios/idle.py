"""A scenario whose users never send a request."""

from locust import FastHttpUser, constant, task


class Idle(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def think(self) -> None:
        pass
