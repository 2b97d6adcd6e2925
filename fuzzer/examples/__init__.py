"""The bundled default: a small CNN trained on scikit-learn's digits."""

from fuzzer.examples.digits import DigitsCNN, DigitsData, load_digits_data, trained_digits_cnn

__all__ = ["DigitsCNN", "DigitsData", "load_digits_data", "trained_digits_cnn"]
