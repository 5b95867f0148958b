"""Bundled data sets for the sweeps (scikit-learn's copies, no download)."""

from __future__ import annotations

import numpy as np

from topo.experiments.runner import ExperimentError

__all__ = ["breast_cancer", "digits"]


def breast_cancer(*, test_size: float = 0.3, split_seed: int = 0, n_train: int | None = None,
                  n_test: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised breast-cancer data (30 features, labels 0/1): ``Xtr, ytr, Xte, yte``.

    A stratified split with ``split_seed``; the scaler is fitted on the training
    part.  ``n_train`` / ``n_test`` keep only the first rows of each part (small
    tests).  Needs scikit-learn (``pip install 'relu-topo[experiments]'``).

    Examples
    --------
    >>> from topo.experiments.data import breast_cancer
    >>> Xtr, ytr, Xte, yte = breast_cancer()
    >>> Xtr.shape, Xte.shape, sorted(set(ytr.tolist()))
    ((398, 30), (171, 30), [0.0, 1.0])
    """
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise ExperimentError(
            "the breast-cancer data needs scikit-learn: pip install 'relu-topo[experiments]'") from None
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=split_seed, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    return Xtr[:n_train], ytr[:n_train].astype(np.float64), Xte[:n_test], yte[:n_test].astype(np.float64)


def digits(*, test_size: float = 0.3, split_seed: int = 0, n_train: int | None = None,
           n_test: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as images ``(n, 1, 8, 8)`` scaled to [0, 1], labels 0..9:
    ``Xtr, ytr, Xte, yte`` (a stratified split with ``split_seed``; ``n_train`` / ``n_test``
    keep the first rows).

    Examples
    --------
    >>> from topo.experiments.data import digits
    >>> Xtr, ytr, Xte, yte = digits()
    >>> Xtr.shape, Xte.shape, int(ytr.max())
    ((1257, 1, 8, 8), (540, 1, 8, 8), 9)
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ExperimentError("the digits data needs scikit-learn: pip install 'relu-topo[experiments]'") from None
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=split_seed, stratify=y)
    return Xtr[:n_train], ytr[:n_train].astype(np.int64), Xte[:n_test], yte[:n_test].astype(np.int64)
