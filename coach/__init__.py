"""Interview Coach: a private, local study partner for deep-learning interviews."""

__version__ = "0.1.0"
