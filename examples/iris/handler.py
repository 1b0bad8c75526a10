"""The iris classifier as a cortex API.

POST a flower, get its class:
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
 -> {"prediction": "setosa"}
A list of such objects gets a list of predictions.
"""
import os
import pickle

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class Handler:
    def __init__(self, config):
        path = config.get("model_path", "model.pkl")
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), path)
        if not os.path.exists(path):
            raise SystemExit("model not found at %s: run python examples/iris/train.py first, then cortex deploy again (an API runs the files deployed with it)" % path)
        with open(path, "rb") as f:
            saved = pickle.load(f)
        self.model = saved["model"]
        self.labels = saved["labels"]

    def handle_post(self, payload):
        flowers = payload if isinstance(payload, list) else [payload]
        rows = []
        for flower in flowers:
            if not isinstance(flower, dict) or any(k not in flower for k in FEATURES):
                return {"error": "send an object with %s" % ", ".join(FEATURES)}
            rows.append([float(flower[k]) for k in FEATURES])
        labels = [self.labels[int(i)] for i in self.model.predict(rows)]
        if isinstance(payload, list):
            return {"predictions": labels}
        return {"prediction": labels[0]}
