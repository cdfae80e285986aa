"""The model families the platform tunes (import-light: read when the definitions load)."""

from typing import Literal

Family = Literal["logreg", "random_forest", "xgboost", "lightgbm"]
FAMILIES: tuple[Family, ...] = ("logreg", "random_forest", "xgboost", "lightgbm")
