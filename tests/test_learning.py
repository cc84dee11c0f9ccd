"""Learning works on the real data: MNIST 784-256-128-10 (slow, runs in CI)."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import read_images, read_labels


@pytest.mark.slow
def test_mnist_reaches_97_5_percent_in_five_epochs(mnist_dir):
    def load(kind):
        X = read_images(mnist_dir / f"{kind}-images-idx3-ubyte.gz").reshape(-1, 784)
        y = read_labels(mnist_dir / f"{kind}-labels-idx1-ubyte.gz")
        return (X / np.float32(255)).astype(np.float32), y

    X, y = load("train")
    X_test, y_test = load("t10k")
    net = cr.MLP([784, 256, 128, 10], hidden="relu", output="softmax", loss="cross_entropy",
                 seed=0)
    # Adam at 1e-3 with cosine decay over the 5 epochs: the final epochs settle instead of
    # bouncing around the minimum (constant-lr runs end between 97.4% and 97.8% by seed).
    steps = 5 * -(-X.shape[0] // 128)
    history = net.fit(X, y, epochs=5, batch_size=128,
                      optimizer=cr.Adam(lr=cr.CosineWarmup(1e-3, total_steps=steps)))
    accuracy = float(np.mean(net.predict_classes(X_test) == y_test))
    print(f"MNIST test accuracy after 5 epochs: {accuracy:.4f}; loss {history['loss']}")
    assert accuracy >= 0.975
    assert history["loss"][-1] < history["loss"][0]
