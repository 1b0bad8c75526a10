"""A dependency-free API: echoes the payload back with a greeting from its config.

Run by cortex's serving runtime: cortex builds Handler(config) once per replica, then calls
handle_post(payload) for every POST to the API's endpoint.
"""
import os


class Handler:
    def __init__(self, config):
        self.greeting = config.get("greeting", "hello")

    def handle_post(self, payload):
        return {
            "greeting": self.greeting,
            # JSON bodies arrive parsed, text/* as str, anything else as bytes.
            "payload": {"bytes": len(payload)} if isinstance(payload, (bytes, bytearray)) else payload,
            "replica": os.environ.get("CORTEX_REPLICA"),
            "pid": os.getpid(),
        }

    def handle_get(self):
        return {"greeting": self.greeting, "replica": os.environ.get("CORTEX_REPLICA"), "pid": os.getpid()}
