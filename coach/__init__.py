"""Interview Coach: a private, local study partner for deep-learning interviews."""

from coach.process_tuning import tune_process

# Before torch or llama_cpp load libgomp and oneDNN, which read these settings once.
tune_process()

__version__ = "0.1.0"
