"""Train the iris classifier and save it to model.pkl (next to this file, or the path given).

    python examples/iris/train.py [model.pkl]

Uses scikit-learn's bundled iris data set: no download.
"""
import os
import pickle
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.pkl")
    iris = load_iris()
    model = LogisticRegression(max_iter=1000)
    model.fit(iris.data, iris.target)
    accuracy = model.score(iris.data, iris.target)
    with open(out + ".tmp", "wb") as f:
        pickle.dump({"model": model, "labels": [str(n) for n in iris.target_names]}, f)
    os.replace(out + ".tmp", out)
    print("trained iris classifier (training accuracy %.3f) -> %s" % (accuracy, out))


if __name__ == "__main__":
    main()
